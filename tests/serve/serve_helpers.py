"""Test helpers for the service: a real uvicorn server in a thread, a subprocess server, WebDriver."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

REPO = Path(__file__).resolve().parents[2]
#: Screenshots and other files kept after a run (gitignored).
ARTIFACTS_OUT = REPO / "test-artifacts" / "serve"
KEY = "test-key-0123456789"


def check_appends_survive_reopening(open_store: Callable[[], Any]) -> None:
    """The operation-log contract every store keeps: appends come back in order, filtered by
    ``after`` and user, with counts, after the store is closed and opened again."""
    store = open_store()
    first = store.append("event", "u1", [{"item_id": "a", "kind": "like"}, {"item_id": "b", "kind": "view"}])
    second = store.append("items", None, [{"items": [{"item_id": "new"}]}])
    assert first[1] == first[0] + 1 and second[0] > first[1]
    store.close()
    reopened = open_store()
    rows = list(reopened.entries())
    assert [r.seq for r in rows] == [*first, *second]
    assert [r.op for r in rows] == ["event", "event", "items"]
    assert rows[0].user_id == "u1" and rows[0].body == {"item_id": "a", "kind": "like"}
    assert [r.seq for r in reopened.entries(after=first[0])] == [first[1], second[0]]
    assert [r.seq for r in reopened.entries(user_id="u1")] == first
    assert reopened.count() == 3 and reopened.count("event") == 2 and reopened.last_seq() == second[0]
    reopened.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A uvicorn server on loopback, running ``app`` in a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    def client(self, key: str | None = KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def live(app: Any) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    try:
        yield server
    finally:
        server.stop()


class ServerProcess:
    """``interestlm serve`` as a real subprocess (what the crash test kills)."""

    def __init__(
        self, artifacts: Path, store: Path | str, keys_file: Path, log: Path, extra: Sequence[str] = ()
    ) -> None:
        """``store``: a SQLite file, or a ``postgresql://`` URL (``--store-url``); ``extra``: more arguments."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        where = ["--store-url", store] if isinstance(store, str) else ["--store", str(store)]
        cmd = [
            sys.executable, "-m", "interestlm.cli", "serve", str(artifacts), "--host", "127.0.0.1",
            "--port", str(self.port), "--api-keys", str(keys_file), *where, "--log-level", "info", *extra,
        ]  # fmt: skip
        # This checkout's package first, whatever the interpreter has installed.
        path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": path}
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("server did not become healthy in 60 s")
            time.sleep(0.1)

    def kill9(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown hook, no checkpoint
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------- headless Chromium
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,1500",
]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def chromium_paths() -> tuple[str, str]:
    """``(chromium, chromedriver)``; skips outside CI when absent, fails under CI."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    message = "headless Chromium tests need the Debian packages chromium and chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(message + ", and CI is set: they must run")
    pytest.skip(message + " (absent here)")


class WebDriver:
    """A minimal W3C WebDriver client over HTTP (chromedriver), enough for clicks, text and screenshots."""

    def __init__(self, browser: str, driver: str, profile_dir: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [driver, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.http.get("/status").json()["value"]["ready"]:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.05)
        options = {"binary": browser, "args": [*CHROME_FLAGS, f"--user-data-dir={profile_dir}"]}
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.request(method, path, json=body)
        value = r.json()["value"]
        if r.status_code != 200:
            raise RuntimeError(f"WebDriver {method} {path}: {value}")
        return value

    def _s(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def get(self, url: str) -> None:
        self._s("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        return str(self._s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT])

    def find_all(self, css: str) -> list[str]:
        return [str(e[ELEMENT]) for e in self._s("POST", "/elements", {"using": "css selector", "value": css})]

    def click(self, element: str) -> None:
        self._s("POST", f"/element/{element}/click", {})

    def text(self, element: str) -> str:
        return str(self._s("GET", f"/element/{element}/text"))

    def script(self, source: str, *args: Any) -> Any:
        return self._s("POST", "/execute/sync", {"script": source, "args": list(args)})

    def wait(self, source: str, *args: Any, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.script(source, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition never held: {source}")
            time.sleep(0.05)

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._s("GET", "/screenshot")))
        return path

    def close(self) -> None:
        try:
            if getattr(self, "session", None):
                self._s("DELETE", "")
        finally:
            self.http.close()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ---------------------------------------------------------------------------- PostgreSQL
def postgres_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl (Debian keeps them off PATH), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return candidates[0].parent if candidates else None


class PostgresServer:
    """A throw-away PostgreSQL cluster on a Unix socket in a temporary folder (a real server, no mock).

    PostgreSQL refuses to run as root, so as root the cluster is owned and run by the ``postgres``
    system user that the Debian package creates.
    """

    def __init__(self, bindir: Path) -> None:
        import tempfile

        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="interestlm-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, user="postgres")
        self.root.chmod(0o700)

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "interestlm", "--no-sync")
        options = f"-k {self.root} -c listen_addresses='' -p 5432"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://interestlm@/{database}?host={self.root}&port=5432"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
