"""Shared fixtures: one fitted artifacts directory (hashing encoder, planted topics) per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_helpers import KEY, LiveServer, PostgresServer, WebDriver, chromium_paths, live, postgres_bindir

from interestlm.core.tables import Dataset
from interestlm.testing.planted import planted_topics, planted_user_topics


@pytest.fixture(scope="session")
def planted() -> Dataset:
    return planted_topics()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory, planted: Dataset) -> Path:
    from interestlm.config import RecommenderConfig
    from interestlm.recommender import Recommender

    rec = Recommender(RecommenderConfig(encoder="hashing")).fit(planted)
    return Path(rec.save(tmp_path_factory.mktemp("serve") / "artifacts"))


@pytest.fixture(scope="session")
def single_topic_users(planted: Dataset) -> dict[str, str]:
    """user id -> its one planted topic name (users who follow exactly one topic)."""
    from interestlm.testing.planted import PLANTED_TOPICS

    out = {}
    for u, uid in enumerate(planted.interactions.user_ids.tolist()):
        topics = planted_user_topics(planted, u)
        if len(topics) == 1:
            out[str(uid)] = PLANTED_TOPICS[topics[0]]
    return out


@pytest.fixture(scope="module")
def server(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server per test module (tests use distinct users so their writes do not interact)."""
    from interestlm.serve import ServeSettings, create_app

    store = tmp_path_factory.mktemp("store") / "store.sqlite3"
    settings = ServeSettings(api_keys=(KEY,), store_path=store, synchronous="NORMAL")
    with live(create_app(artifacts, settings=settings)) as s:
        yield s


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real local PostgreSQL server; under CI it must exist (``.ci/run`` installs it)."""
    bindir = postgres_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL (initdb, pg_ctl) is not installed; .ci/run installs the Debian package")
        pytest.skip("PostgreSQL is not installed (the Debian package 'postgresql' provides it)")
    server = PostgresServer(bindir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """A headless Chromium driven over WebDriver (the page tests; under CI it must exist)."""
    chromium, driver = chromium_paths()
    wd = WebDriver(chromium, driver, tmp_path / "chromium-profile")
    yield wd
    wd.close()
