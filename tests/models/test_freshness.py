"""SeqRec's learned item-age bias (``freshness``) on planted release-driven data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from interestlm.core.protocol import EvalTask, TimedModel, TrainData
from interestlm.core.tables import Catalog, Interactions
from interestlm.models.ranking import evaluate_task
from interestlm.models.seqrec import AGE_BUCKET_NAMES, AGE_BUCKETS, SeqRec, SeqRecConfig, SeqRecScorer, age_buckets

DAY = 86400.0
BASE = 800_000_000.0  # seconds: a 1995 start, as in MovieLens
N_ITEMS = 60
N_NEW = 6  # the newest releases never appear in training
WINDOW = 28  # days: people watch what came out in the last four weeks
FAST = SeqRecConfig(
    encoder="hashing", concepts=False, item_id=False, max_len=10, hidden=32, n_layers=1, n_heads=2, dropout=0.1,
    lr=5e-3, batch_size=32, epochs=15, num_threads=1,
)  # fmt: skip


def _released() -> np.ndarray:
    return BASE + DAY * 7.0 * np.arange(N_ITEMS)


def _catalog() -> Catalog:
    # Titles carry no hint of time: only the release dates can tell what is fresh.
    rng = np.random.default_rng(1)
    words = ["red", "blue", "storm", "river", "night", "glass", "stone", "wind", "gold", "paper"]
    titles = [" ".join(rng.choice(words, size=3)) + f" {i}" for i in range(N_ITEMS)]
    return Catalog.build([f"m{i}" for i in range(N_ITEMS)], titles=titles, released=_released())


def _log(n_users: int = 240, seed: int = 0) -> Interactions:
    """Each user watches, every few days, one of the items released in the last ``WINDOW`` days."""
    rng = np.random.default_rng(seed)
    released = _released()
    users, items, times = [], [], []
    for u in range(n_users):
        t = BASE + DAY * rng.uniform(WINDOW, 7.0 * (N_ITEMS - 8))
        seen: set[int] = set()
        for _ in range(8):
            fresh = [i for i in np.flatnonzero((released <= t) & (released > t - WINDOW * DAY)) if i not in seen]
            if fresh:
                i = int(rng.choice(fresh))
                seen.add(i)
                users.append(u)
                items.append(i)
                times.append(int(t))
            t += DAY * rng.uniform(2.0, 5.0)
    return Interactions.build(user=users, item=items, user_ids=[f"u{u}" for u in range(n_users)], timestamp=times)


@pytest.fixture(scope="module")
def train() -> TrainData:
    log = _log()
    warm = log.item < N_ITEMS - N_NEW
    return TrainData(interactions=log.select(warm), catalog=_catalog())


def _late_task(train: TrainData) -> EvalTask:
    """Rows asked at the newest release's week, whose targets are new releases."""
    now = float(_released()[-1]) + 3 * DAY
    seqs = [s for s in train.sequences() if len(s) >= 2][:60]
    targets = [np.array([N_ITEMS - 1 - j % N_NEW], dtype=np.int32) for j in range(len(seqs))]
    exclude = sp.csr_matrix(
        (np.ones(sum(map(len, seqs))), np.concatenate(seqs), np.cumsum([0, *map(len, seqs)])),
        shape=(len(seqs), N_ITEMS),
    )
    return EvalTask(
        name="late", users=np.arange(len(seqs), dtype=np.int32), histories=seqs, targets=targets, exclude=exclude,
        times=np.full(len(seqs), now),
    )  # fmt: skip


@pytest.fixture(scope="module")
def fresh(train: TrainData) -> SeqRec:
    return SeqRec(FAST, freshness=True).fit(train)


def test_age_buckets_are_log_spaced_weeks_with_unknown_and_unreleased() -> None:
    now = torch.tensor([1000.0, float("nan")])
    released = torch.tensor([1000.0, 994.0, 993.0, 980.0, 979.0, 1001.0, float("nan"), -1e6])
    got = age_buckets(now, released)
    # Ages 0, 6, 7, 20 (< 3 weeks), 21 days; not yet out; unknown; older than the last bucket.
    assert got[0].tolist() == [2, 2, 3, 3, 4, 1, 0, AGE_BUCKETS - 1]
    assert got[1].tolist() == [0] * 8  # no clock: every age is unknown
    # Each name's first day falls in its own bucket, and the day before it in the previous one.
    assert AGE_BUCKET_NAMES[:3] == ("unknown", "not released", "0-6 days") and len(AGE_BUCKET_NAMES) == AGE_BUCKETS
    for b, name in enumerate(AGE_BUCKET_NAMES[2:], start=2):
        first = float(name.split("-")[0].removeprefix(">= ").split()[0])
        ages = age_buckets(torch.tensor([first, first - 1]), torch.zeros(1))[:, 0].tolist()
        assert ages == [b, b - 1 if b > 2 else 1]


def test_learns_that_fresh_releases_are_watched_and_ranks_new_ones_by_their_age(
    fresh: SeqRec, train: TrainData
) -> None:
    bias = fresh.report()["age_bias"]
    assert bias is not None and len(bias) == AGE_BUCKETS
    # Planted: everything watched is under 4 weeks old, nothing older or unreleased. (The data
    # has no item over ~14 months old, bucket 7: the buckets past it never change.)
    assert min(bias[2], bias[3]) > max(bias[1], *bias[5:8]) + 1.0
    assert bias[8:] == [0.0] * (AGE_BUCKETS - 8)
    assert bias[0] == 0.0  # unknown ages (none here) add nothing
    task = _late_task(train)
    assert isinstance(fresh, TimedModel)
    with_age = evaluate_task(fresh, task, ks=(5,))["recall@5"]
    plain = evaluate_task(SeqRec(FAST).fit(train), task, ks=(5,))["recall@5"]
    # Five of the sixty items: the new releases fill the top 5 only when age is read.
    assert with_age > 0.6 and plain < 0.3


def test_scores_without_a_time_are_as_of_the_last_training_event(fresh: SeqRec, train: TrainData) -> None:
    assert fresh.now_ == float(train.interactions.timestamp.max())
    histories = train.sequences()[:4]
    users = np.arange(4, dtype=np.int32)
    np.testing.assert_allclose(
        fresh.score(users, histories), fresh.score_at(users, histories, np.full(4, fresh.now_)), rtol=1e-6
    )
    later = fresh.score_at(users, histories, np.full(4, fresh.now_ + 365 * DAY))
    assert not np.allclose(later, fresh.score(users, histories))
    with pytest.raises(ValueError, match="4 histories but 3 times"):
        fresh.score_at(users, histories, np.zeros(3))


def test_freshness_is_saved_and_reaches_the_ranking_signal(fresh: SeqRec, tmp_path: Path) -> None:
    histories = [np.array([3, 4, 5], dtype=np.int32), np.array([40, 41], dtype=np.int32)]
    users = np.zeros(2, dtype=np.int32)
    expected = fresh.score(users, histories)
    loaded = SeqRec.load(fresh.save(tmp_path / "fresh"))
    assert loaded.now_ == fresh.now_
    np.testing.assert_allclose(loaded.score(users, histories), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loaded.released_times(), _released(), rtol=1e-6)
    scorer = SeqRecScorer(loaded)
    np.testing.assert_allclose(scorer.score(histories), expected, rtol=1e-5, atol=1e-5)
    # An item added later has no release time: an unknown age adds nothing to its score.
    grown = scorer.with_items(np.ones((1, loaded.net_.tower.text.shape[1]), dtype=np.float32), None)
    assert loaded.report()["age_bias"][0] == 0.0
    added = loaded.intent(histories) @ grown.vectors[-1]
    np.testing.assert_allclose(grown.score(histories)[:, -1], added, rtol=1e-4, atol=1e-4)


def test_freshness_needs_release_times(train: TrainData) -> None:
    blind = TrainData(interactions=train.interactions, catalog=Catalog.build(train.catalog.item_ids.tolist()))
    with pytest.raises(ValueError, match="no release times"):
        SeqRec(FAST, freshness=True, text=False, item_id=True, epochs=1).fit(blind)


def test_the_recommender_trains_and_keeps_the_age_bias(tmp_path: Path) -> None:
    from interestlm.config import RecommenderConfig
    from interestlm.core.tables import Dataset
    from interestlm.recommender import Recommender

    log = _log(n_users=120)
    data = Dataset(name="fresh", catalog=_catalog(), interactions=log, has_time=True)
    seqrec = SeqRecConfig.from_json({**FAST.to_json(), "freshness": True})
    config = RecommenderConfig(encoder="hashing", collaborative="itemknn", sequential=True, seqrec=seqrec)
    fitted = Recommender(config).fit(data)
    model = fitted.sequential_
    assert model is not None and model.report()["age_bias"][2] > model.report()["age_bias"][1]
    np.testing.assert_allclose(model.released_times(), _released(), rtol=1e-6)
    histories = [np.array([3, 4, 5], dtype=np.int32)]
    expected = model.score(np.zeros(1, dtype=np.int32), histories)
    assert fitted.state_.ranker.context.sequential is not None
    np.testing.assert_allclose(fitted.state_.ranker.context.sequential.score(histories), expected, rtol=1e-5, atol=1e-5)
    # Saved with the recommender: release times in items.parquet, the bias in the model.
    again = Recommender.load(fitted.save(tmp_path / "rec"))
    np.testing.assert_array_equal(again.catalog.released, _released())
    assert again.state_.ranker.context.sequential is not None
    np.testing.assert_allclose(again.state_.ranker.context.sequential.score(histories), expected, rtol=1e-5, atol=1e-5)
