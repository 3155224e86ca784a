"""Overload: bounded compute with a short queue, 503 + Retry-After beyond it, abandoned work dropped,
/healthz answered whatever the load."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import KEY, LiveServer, live

from interestlm.serve import ServeSettings, create_app
from interestlm.serve.concurrency import Admission, Overloaded


def test_admission_runs_a_few_queues_a_few_and_refuses_the_rest() -> None:
    async def scenario() -> list[str]:
        admission = Admission(workers=1, queue=1, max_wait=0.3)
        order: list[str] = []
        release = asyncio.Event()

        async def job(name: str) -> None:
            try:
                async with admission.slot():
                    order.append(f"{name} runs")
                    await release.wait()
            except Overloaded:
                order.append(f"{name} refused")

        first = asyncio.create_task(job("a"))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(job("b"))  # queued
        await asyncio.sleep(0.01)
        await job("c")  # queue full: refused at once, without waiting
        assert admission.running == 1 and admission.waiting == 1
        release.set()
        await asyncio.gather(first, second)
        assert admission.running == 0 and admission.waiting == 0 and admission.refused == 1
        release.clear()
        hold = asyncio.create_task(job("d"))
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        await job("e")  # waits max_wait, then refused
        waited = time.perf_counter() - started
        release.set()
        await hold
        assert 0.25 <= waited < 2.0 and admission.running == 0
        return order

    assert asyncio.run(scenario()) == ["a runs", "c refused", "b runs", "d runs", "e refused"]


@pytest.fixture
def slow(artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LiveServer, list[str]]]:
    """One compute worker, no cache, and lists that take 0.6 s (a stand-in for a heavy catalogue)."""
    settings = ServeSettings(
        api_keys=(KEY,),
        store_path=tmp_path / "store.sqlite3",
        synchronous="NORMAL",
        cache_size=0,
        compute_workers=1,
        compute_queue=1,
        queue_wait=5.0,
    )
    app = create_app(artifacts, settings=settings)
    service = app.state.service
    real = service.recommendations
    computed: list[str] = []

    def slow_list(user_id: str, k: int, **kwargs: Any) -> bytes:
        computed.append(user_id)
        time.sleep(0.6)
        return real(user_id, k, **kwargs)

    monkeypatch.setattr(service, "recommendations", slow_list)
    with live(app) as s:
        yield s, computed


def test_beyond_the_queue_requests_get_503_with_retry_after_and_healthz_stays_fast(
    slow: tuple[LiveServer, list[str]],
) -> None:
    server, computed = slow
    users = [str(u) for u in server.app.state.service.rec.state_.user_ids[:6]]
    results: list[httpx.Response] = []

    def get(user: str) -> None:
        with server.client() as c:
            results.append(c.get(f"/v1/users/{user}/recommendations"))

    threads = [threading.Thread(target=get, args=(u,)) for u in users]
    for t in threads:
        t.start()
    time.sleep(0.2)
    with server.client() as c:
        started = time.perf_counter()
        assert c.get("/healthz").status_code == 200
        health_s = time.perf_counter() - started
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 2 and codes.count(503) == 4, codes  # one running, one queued
    for r in results:
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1" and "capacity" in r.json()["detail"]
    assert health_s < 0.3, f"/healthz took {health_s:.3f} s while every compute slot was busy"
    assert len(computed) == 2


def test_a_queued_request_whose_client_hangs_up_is_never_computed(slow: tuple[LiveServer, list[str]]) -> None:
    server, computed = slow
    users = [str(u) for u in server.app.state.service.rec.state_.user_ids[:2]]
    first = threading.Thread(target=lambda: server.client().get(f"/v1/users/{users[0]}/recommendations"))
    first.start()
    time.sleep(0.1)
    with pytest.raises(httpx.TimeoutException), server.client() as c:
        c.get(f"/v1/users/{users[1]}/recommendations", timeout=0.2)  # queued, then gone
    first.join()
    time.sleep(0.3)
    assert computed == [users[0]], "the abandoned request was dropped from the queue"
    service = server.app.state.service
    assert service.admission.running == 0 and service.admission.waiting == 0
