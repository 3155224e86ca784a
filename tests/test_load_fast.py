"""Loading saved artifacts refits nothing: the fitted signals come back as saved (EASE's weights
memory-mapped), the lists are the fitted ones, and older artifacts without ``signals/`` still load."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from interestlm import artifacts
from interestlm.config import RecommenderConfig
from interestlm.core.tables import Dataset
from interestlm.models.ease import EASE
from interestlm.models.itemknn import ItemKNN
from interestlm.rank.signals import PaddedModel
from interestlm.recommender import Recommender
from interestlm.testing.planted import planted_topics


@pytest.fixture(scope="module")
def data() -> Dataset:
    return planted_topics(n_topics=4, items_per_topic=25, n_users=40, history_len=12, seed=1)


@pytest.fixture(scope="module", params=["ease", "itemknn"])
def fitted(request: pytest.FixtureRequest, data: Dataset) -> Recommender:
    return Recommender(RecommenderConfig(encoder="hashing", collaborative=request.param)).fit(data)


def _lists(rec: Recommender, users: list[str]) -> list[list[tuple[str, float]]]:
    return [[(r.item_id, r.score) for r in rec.recommend(u, 10, explain=False)] for u in users]


def _users(data: Dataset) -> list[str]:
    return [str(u) for u in data.interactions.user_ids[:12]]


def test_load_reads_the_fitted_signals(fitted: Recommender, data: Dataset, tmp_path: Path) -> None:
    out = fitted.save(tmp_path / "a")
    loaded = Recommender.load(out)
    before, after = fitted.state_.ranker.context, loaded.state_.ranker.context
    model = after.collaborative
    if isinstance(before.collaborative, EASE):
        assert isinstance(model, EASE) and isinstance(model.weights_, np.memmap)
        np.testing.assert_array_equal(np.asarray(model.weights_), before.collaborative.weights_)
    else:
        assert isinstance(model, ItemKNN) and isinstance(before.collaborative, ItemKNN)
        assert (model.similarity_ != before.collaborative.similarity_).nnz == 0
    assert (after.transition != before.transition).nnz == 0
    np.testing.assert_array_equal(after.log_popularity, before.log_popularity)
    assert _lists(loaded, _users(data)) == _lists(fitted, _users(data))


def test_artifacts_without_saved_signals_still_load(fitted: Recommender, data: Dataset, tmp_path: Path) -> None:
    out = fitted.save(tmp_path / "old")
    # What an artifacts directory written before signals/ existed looks like.
    extra = json.loads((out / "manifest.json").read_text())["extra"]
    shutil.rmtree(out / "signals")
    artifacts.write_manifest(out, extra=extra)
    loaded = Recommender.load(out)
    got, want = _lists(loaded, _users(data)), _lists(fitted, _users(data))
    assert [[i for i, _ in r] for r in got] == [[i for i, _ in r] for r in want]
    np.testing.assert_allclose([s for r in got for _, s in r], [s for r in want for _, s in r], rtol=1e-4, atol=1e-5)


def test_items_added_before_saving_come_back_padded(data: Dataset, tmp_path: Path) -> None:
    rec = Recommender(RecommenderConfig(encoder="hashing", collaborative="ease")).fit(data)
    rec.add_items([{"item_id": "new-1", "title": "A brand new item about topic zero", "tags": ["t0"]}])
    loaded = Recommender.load(rec.save(tmp_path / "grown"))
    model = loaded.state_.ranker.context.collaborative
    assert isinstance(model, PaddedModel) and model.n_fitted == len(data.catalog)
    assert model.n_items == len(data.catalog) + 1
    assert _lists(loaded, _users(data)) == _lists(rec, _users(data))


def test_saving_over_the_directory_it_was_loaded_from(fitted: Recommender, data: Dataset, tmp_path: Path) -> None:
    out = fitted.save(tmp_path / "same")
    loaded = Recommender.load(out)
    want = _lists(loaded, _users(data))
    loaded.save(out)  # the memory-mapped weights are replaced by rename, never truncated under the reader
    assert _lists(loaded, _users(data)) == want
    assert _lists(Recommender.load(out), _users(data)) == want


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "interestlm.cli", *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-k", "0"], "-k/--k must be >= 1, got 0"),
        (["-k", "-5"], "-k/--k must be >= 1, got -5"),
        (["-k", "ten"], "-k/--k must be a whole number"),
        (["--diversity", "1.5"], "--diversity must be in [0.0, 1.0], got 1.5"),
        (["--diversity", "nan"], "--diversity must be in [0.0, 1.0]"),
    ],
)
def test_bad_numbers_are_named_before_anything_loads(tmp_path: Path, args: list[str], message: str) -> None:
    # Only a manifest, nothing loadable: the numbers are rejected before any loading is tried.
    (tmp_path / "manifest.json").write_text("{}")
    done = _cli("recommend", "--artifacts", str(tmp_path), "--user", "1", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_missing_artifacts_and_a_taken_port_are_clear(fitted: Recommender, tmp_path: Path) -> None:
    done = _cli("recommend", "--artifacts", str(tmp_path / "nope"), "--user", "1")
    assert done.returncode == 2 and "nope does not exist" in done.stderr
    out = fitted.save(tmp_path / "art")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _cli("serve", str(out), "--port", str(port), "--store", str(tmp_path / "s.sqlite3"))
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr


def test_each_command_lists_only_its_options() -> None:
    def options(command: str) -> set[str]:
        return set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", _cli(command, "--help").stdout))

    profile, explain, recommend = options("profile"), options("explain"), options("recommend")
    assert "--user" in profile and not {"--diversity", "--item", "-k"} & profile
    assert "--item" in explain and not {"--text", "--diversity", "-k"} & explain
    assert {"-k", "--diversity", "--text"} <= recommend and "--item" not in recommend


def test_recommend_prints_a_list_and_json_when_asked(fitted: Recommender, data: Dataset, tmp_path: Path) -> None:
    out = fitted.save(tmp_path / "cli")
    user = _users(data)[0]
    listing = _cli("recommend", "--artifacts", str(out), "--user", user, "-k", "3", "-q")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0] == f"Top-3 for user {user}:" and lines[1].startswith(" 1. ") and "score" in lines[1]
    assert listing.stderr == ""  # -q: no progress lines
    as_json = _cli("recommend", "--artifacts", str(out), "--user", user, "-k", "3", "--json")
    body = json.loads(as_json.stdout)
    assert [r["item_id"] for r in body["recommendations"]] == [r.item_id for r in fitted.recommend(user, 3)]
    saved = _cli("recommend", "--artifacts", str(out), "--user", user, "-k", "3", "--json", str(tmp_path / "r.json"))
    assert saved.stdout.startswith(f"Top-3 for user {user}:")
    assert json.loads((tmp_path / "r.json").read_text()) == body
