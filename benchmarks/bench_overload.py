"""Overload of ``interestlm serve``: uncached recommendations at fixed open-loop rates.

For each rate (default 50, 100 and 200 requests/s, 30 s each) a fresh server (``--cache-size 0``:
every list is computed) runs as a real subprocess on loopback. Requests go out on a fixed
schedule whether or not earlier ones are done; a client gives up after ``--client-timeout``
seconds (closing its connection, as a browser or a proxy would). Beside the load, ``/healthz`` is
polled every 100 ms on its own connection. After the load stops, the server is probed until a
fresh list comes back about as fast as on an idle server ("idle after").

What the issue asks (uncached recommendations at 50/100/200 per s): zero 5xx other than 503 with
``Retry-After``, admitted requests' p99 <= 250 ms, /healthz p99 <= 50 ms throughout, and the
server idle within 2 s of the load stopping.

    python benchmarks/bench_overload.py --artifacts DIR [--rates 50 100 200] [--seconds 30]
        [--label after] [--out benchmarks/results/serve/bench_overload.json]

Results are merged into the JSON under ``--label`` (``before`` is the base commit's server, run
with ``PYTHONPATH=<base checkout>/src``), so both figures sit in one file from one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from interestlm.evaluate.runner import hardware, versions
from latency import percentiles

#: How long the probe waits for the server to be idle again (null in the JSON: not within it).
IDLE_LIMIT_S = 120.0
KEY = "bench-key-0123456789"
HEADERS = {"Authorization": f"Bearer {KEY}"}
RESULTS = Path(__file__).resolve().parent / "results" / "serve" / "bench_overload.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(artifacts: Path, store: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    keys = store.with_name("keys")
    keys.write_text(KEY + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "interestlm.cli", "serve", str(artifacts), "--port", str(port), "--store", str(store),
           "--api-keys", str(keys), "--cache-size", "0", "--log-level", "warning", *extra]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("server did not start in 300 s")
        time.sleep(0.1)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()  # the base server may still be computing minutes of abandoned work
    proc.wait(timeout=30)


async def raw_get(host: str, port: int, path: str, timeout: float) -> tuple[int, dict[str, str]]:
    """One ``GET`` on a new connection (``Connection: close``), hand-written HTTP/1.1: a load
    generator on the same two cores must cost far less than the server it loads (httpx costs
    about a millisecond of CPU per request). On timeout the connection is closed, as a client
    that gives up does. Returns the status and the response headers."""
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            auth = HEADERS["Authorization"]
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
            writer.write(request.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.read()  # the body, to the close
    finally:
        if writer is not None:
            writer.close()
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers




async def probe_idle(url: str, users: list[str], threshold_s: float, limit_s: float) -> float | None:
    """Seconds until a fresh list (a sequential probe) comes back within ``threshold_s``; None if
    that did not happen within ``limit_s``."""
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=limit_s, headers=HEADERS) as client:
        while time.perf_counter() - started < limit_s:
            t = time.perf_counter()
            try:
                r = await client.get(f"/v1/users/{random.choice(users)}/recommendations", params={"k": 10})
                if r.status_code == 200 and time.perf_counter() - t <= threshold_s:
                    return round(t - started, 3)
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    return None


async def run_rate(
    url: str, users: list[str], rate: float, seconds: float, client_timeout: float, idle_threshold: float, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    admitted: list[float] = []
    statuses: dict[str, int] = {}
    health: list[float] = []
    health_errors = 0
    stop = asyncio.Event()

    async def poll_health() -> None:
        nonlocal health_errors
        async with httpx.AsyncClient(base_url=url, timeout=30) as hc:
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    r = await hc.get("/healthz")
                    health.append(time.perf_counter() - t)
                    if r.status_code != 200:
                        health_errors += 1
                except httpx.HTTPError:
                    health.append(time.perf_counter() - t)
                    health_errors += 1
                await asyncio.sleep(0.1)

    host, port = url.removeprefix("http://").split(":")

    async def one(user: str) -> None:
        t = time.perf_counter()
        try:
            status, headers = await raw_get(host, int(port), f"/v1/users/{user}/recommendations?k=10", client_timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            key = f"client:{type(exc).__name__}"
            statuses[key] = statuses.get(key, 0) + 1
            return
        elapsed = time.perf_counter() - t
        key = str(status)
        if status == 503:
            key += "+retry-after" if "retry-after" in headers else "-no-retry-after"
        statuses[key] = statuses.get(key, 0) + 1
        if status == 200:
            admitted.append(elapsed)

    poller = asyncio.create_task(poll_health())
    tasks = []
    t0 = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(rng.choice(users))))
    await asyncio.gather(*tasks)
    load_end = time.perf_counter()
    stop.set()
    await poller
    idle_after = await probe_idle(url, users, idle_threshold, limit_s=IDLE_LIMIT_S)
    bad_5xx = sum(n for k, n in statuses.items() if k.startswith("5") and k != "503+retry-after")
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "sent": int(rate * seconds),
        "statuses": dict(sorted(statuses.items())),
        "completed_200": len(admitted),
        "admitted_latency": percentiles(admitted),
        "healthz_latency": percentiles(health),
        "healthz_errors": health_errors,
        "load_wall_s": round(load_end - t0, 2),
        "idle_after_s": idle_after,
        "checks": {
            "no_5xx_but_503_retry_after": bad_5xx == 0,
            "admitted_p99_le_250ms": bool(admitted) and percentiles(admitted)["p99_ms"] <= 250,
            "healthz_p99_le_50ms": bool(health) and percentiles(health)["p99_ms"] <= 50 and health_errors == 0,
            "idle_within_2s": idle_after is not None and idle_after <= 2.0,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 100, 200])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--client-timeout", type=float, default=5.0)
    parser.add_argument("--label", default="after")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `interestlm serve` argument")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import pandas as pd

    users = [str(u) for u in pd.read_parquet(args.artifacts / "users.parquet")["user_id"]]
    runs = []
    for rate in args.rates:
        with tempfile.TemporaryDirectory() as tmp:
            proc, url = start_server(args.artifacts, Path(tmp) / "store.sqlite3", args.server_arg)
            try:
                # Idle cost of one uncached list: the yardstick of "idle again" (3x its median).
                idle = []
                with httpx.Client(base_url=url, timeout=60, headers=HEADERS) as c:
                    for u in users[:20]:
                        t = time.perf_counter()
                        c.get(f"/v1/users/{u}/recommendations", params={"k": 10}).raise_for_status()
                        idle.append(time.perf_counter() - t)
                threshold = 3 * float(np.median(idle))
                run = asyncio.run(run_rate(url, users, rate, args.seconds, args.client_timeout, threshold, args.seed))
                run["idle_list_ms_median"] = round(float(np.median(idle)) * 1000, 2)
                runs.append(run)
                print(json.dumps(run, indent=1), flush=True)
            finally:
                stop_server(proc)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    previous.setdefault("runs", {})[args.label] = {
        "runs": runs,
        "client_timeout_s": args.client_timeout,
        "server_args": ["--cache-size", "0", *args.server_arg],
        "interestlm_path": str(Path(__import__("interestlm").__file__).parent),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    previous.update(
        {
            "benchmark": "bench_overload",
            "artifacts": str(args.artifacts),
            "hardware": hardware(),
            "versions": {**versions(), **{n: metadata.version(n) for n in ("fastapi", "uvicorn", "httpx")}},
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(previous, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
