"""The README is executable: every ```python and ```bash block runs, in the order written, in one
fresh folder, on the shipped sample, and the test fails on the first line that errors.

```text blocks hold commands on the full datasets (minutes to hours on 2 cores); the benchmarks
run those. Lines not run, each for a reason (:data:`SKIPPED`): ``make`` (this test runs inside
``make test``), ``pip install`` (the packages come from requirements.lock), ``open`` (a desktop
browser) and ``--lm http`` (an OpenAI-compatible server the reader runs; the HTTP client is tested
against a real local server in tests/test_lm_*.py). ``interestlm serve`` starts in the background
on a free port (put in place of the README's 8000 in that block) and stops at the block's end.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", flags=re.S | re.M)

#: Line prefixes (or fragments) not run, and why.
SKIPPED = {
    "make ": "this test runs inside `make test`",
    "pip install": "the packages come from requirements.lock",
    "open ": "opens a desktop browser",
    "--lm http": "needs an OpenAI-compatible server of the reader's",
}


def blocks(language: str, section: str) -> list[str]:
    """The fenced ``language`` blocks under the ``## section`` heading of the README."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else len(text)]
    return [code for lang, code in BLOCK.findall(body) if lang == language]


def all_blocks() -> list[tuple[str, str, str]]:
    """Every fenced block of the README as ``(section, language, code)``, in order."""
    text = README.read_text(encoding="utf-8")
    out = []
    for match in BLOCK.finditer(text):
        heading = re.findall(r"^## (.+)$", text[: match.start()], flags=re.M)
        out.append((heading[-1] if heading else "(top)", match.group(1), match.group(2)))
    return out


def strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def shell_lines(code: str) -> list[str]:
    """Logical lines of a bash block: continuations joined, comments and ``[optional]`` parts out."""
    lines = []
    for raw in code.replace("\\\n", " ").splitlines():
        line = strip_comment(raw).strip()
        if line.startswith("interestlm "):
            line = re.sub(r"\s\[[^\]]*\]", "", line)
        if line:
            lines.append(line)
    return lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, server: subprocess.Popen[str], log: Path, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited: {log.read_text()[-2000:]}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the README's server never answered /healthz: {log.read_text()[-2000:]}")


def run_bash_block(code: str, cwd: Path, env: dict[str, str]) -> list[tuple[str, str]]:
    """Run a bash block line by line; returns ``(line, stdout)`` of each line run."""
    ran: list[tuple[str, str]] = []
    servers: list[subprocess.Popen[str]] = []
    port = free_port()
    try:
        for line in shell_lines(code):
            if any(line.startswith(p) or (p.startswith("--") and p in line) for p in SKIPPED):
                continue
            line = line.replace("8000", str(port))
            if line.startswith("interestlm serve"):
                if "--port" not in line:  # the default port, 8000
                    line += f" --port {port}"
                log = (cwd / f"server-{len(servers)}.log").open("w")
                server = subprocess.Popen(
                    ["bash", "-c", f"exec {line}"], cwd=cwd, env=env, text=True, stdout=log, stderr=log
                )
                servers.append(server)
                wait_ready(port, server, cwd / f"server-{len(servers) - 1}.log")
                ran.append((line, ""))
                continue
            done = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, check=False)
            assert done.returncode == 0, (line, done.stdout[-1500:], done.stderr[-2500:])
            if line.startswith("curl"):
                assert '"detail"' not in done.stdout[:200], (line, done.stdout[:500])
            ran.append((line, done.stdout))
        return ran
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


@pytest.mark.integration
def test_every_readme_block_runs_in_order(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # As the README suggests: one vector cache, so the sample is encoded once, not at every fit.
    env["INTERESTLM_CACHE"] = str(tmp_path / "vector-cache")
    outputs: dict[str, str] = {}
    n_python = n_lines = 0
    for section, language, code in all_blocks():
        if language == "python":
            done = subprocess.run(
                [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, (section, done.stderr[-3000:])
            outputs[section] = outputs.get(section, "") + done.stdout
            n_python += 1
        elif language == "bash":
            for line, out in run_bash_block(code, tmp_path, env):
                outputs[line] = out
                n_lines += 1
    assert n_python >= 2 and n_lines >= 15
    # What the blocks say they do, they did.
    assert "signal" in outputs["Library"] and "weight" in outputs["Library"]  # the fusion table
    assert "columns: user=customer, item=product, time=when, rating=stars" in outputs["Your own data"]
    assert (tmp_path / "artifacts" / "manifest.json").is_file()
    assert (tmp_path / "shop-artifacts" / "manifest.json").is_file()
    listing = outputs["interestlm recommend --artifacts artifacts/ --user 2 -k 10"]
    assert listing.startswith("Top-10 for user 2:") and "\n10. " in listing
    as_json = outputs["interestlm recommend --artifacts artifacts/ --user 2 --json"]
    assert '"recommendations"' in as_json
    # "Predicting ratings": the fused model beats the biases, which beat the global mean.
    (rating,) = [out for line, out in outputs.items() if line.startswith("interestlm evaluate --task rating")]
    rows = {ln.split()[0]: float(ln.split()[1]) for ln in rating.splitlines()[1:] if ln.strip()}
    assert set(rows) == {"global-mean", "baseline", "svd", "fused"}
    assert rows["fused"] < rows["baseline"] < rows["global-mean"]
