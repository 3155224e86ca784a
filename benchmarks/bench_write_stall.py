"""Reads during a large item upload: does a long write stall cached reads?

A real ``interestlm serve`` subprocess on loopback; 50 users' lists are cached first, then a
reader fetches them in a loop (one keep-alive connection) while ``--uploads`` bodies of about
``--upload-bytes`` of new items (``POST /v1/items``) are sent one after another. Reported: the
read latency during the uploads (what the issue bounds: p99 <= 50 ms for a 1 MB upload), outside
them, and how long each upload took.

    python benchmarks/bench_write_stall.py --artifacts DIR [--label after]

Results are merged into ``benchmarks/results/serve/bench_write_stall.json`` under ``--label``
(``before``: run it with ``PYTHONPATH=<base checkout>/src``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

import httpx

from interestlm.evaluate.runner import hardware, versions
from latency import percentiles

RESULTS = Path(__file__).resolve().parent / "results" / "serve" / "bench_write_stall.json"
KEY = "bench-key-0123456789"




def items_body(n_bytes: int, upload: int) -> bytes:
    """New items totalling about ``n_bytes`` of JSON (titles plus a paragraph of text each)."""
    text = ("A slow-burning drama about a lighthouse keeper, the sea and an unexpected letter. " * 11)[:900]
    items, size = [], 20
    while size < n_bytes - 1100:
        item = {"item_id": f"stall-{upload}-{len(items)}", "title": f"Lighthouse {upload}.{len(items)}",
                "text": text, "categories": ["Drama"]}  # fmt: skip
        items.append(item)
        size += len(json.dumps(item)) + 2
    return json.dumps({"items": items}).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--uploads", type=int, default=3)
    parser.add_argument("--upload-bytes", type=int, default=990_000)
    parser.add_argument("--label", default="after")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import pandas as pd

    users = [str(u) for u in pd.read_parquet(args.artifacts / "users.parquet")["user_id"]][:50]
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys"
        keys.write_text(KEY + "\n")
        port = 18000 + os.getpid() % 1000
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        store = str(Path(tmp) / "store.sqlite3")
        cmd = [sys.executable, "-m", "interestlm.cli", "serve", str(args.artifacts), "--port", str(port),
               "--store", store, "--api-keys", str(keys), "--log-level", "warning"]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            headers = {"Authorization": f"Bearer {KEY}"}
            with httpx.Client(base_url=url, timeout=60, headers=headers) as c:
                for u in users:
                    c.get(f"/v1/users/{u}/recommendations").raise_for_status()
            reads: list[tuple[float, float]] = []
            stop = threading.Event()

            def reader() -> None:
                with httpx.Client(base_url=url, timeout=120, headers=headers) as c:
                    i = 0
                    while not stop.is_set():
                        t = time.perf_counter()
                        c.get(f"/v1/users/{users[i % len(users)]}/recommendations").raise_for_status()
                        reads.append((t, time.perf_counter() - t))
                        i += 1
                        time.sleep(0.005)

            thread = threading.Thread(target=reader)
            thread.start()
            time.sleep(2.0)
            windows, uploads = [], []
            with httpx.Client(base_url=url, timeout=600, headers=headers) as c:
                for n in range(args.uploads):
                    body = items_body(args.upload_bytes, n)
                    t = time.perf_counter()
                    r = c.post("/v1/items", content=body, headers={"content-type": "application/json"})
                    r.raise_for_status()
                    windows.append((t, time.perf_counter()))
                    uploads.append({"bytes": len(body), "items": len(r.json()["item_ids"]),
                                    "seconds": round(windows[-1][1] - t, 3)})  # fmt: skip
                    time.sleep(1.0)
            stop.set()
            thread.join()
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def inside(t: float) -> bool:
        return any(a <= t <= b for a, b in windows)

    during = [d for t, d in reads if inside(t)]
    outside = [d for t, d in reads if not inside(t)]
    result = {
        "uploads": uploads,
        "reads_during_uploads": percentiles(during),
        "reads_outside_uploads": percentiles(outside),
        "check_p99_during_le_50ms": bool(during) and percentiles(during)["p99_ms"] <= 50,
        "interestlm_path": str(Path(__import__("interestlm").__file__).parent),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(json.dumps(result, indent=1))
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    previous.setdefault("runs", {})[args.label] = result
    previous.update(
        {
            "benchmark": "bench_write_stall",
            "artifacts": str(args.artifacts),
            "hardware": hardware(),
            "versions": {**versions(), **{n: metadata.version(n) for n in ("fastapi", "uvicorn", "httpx")}},
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(previous, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
