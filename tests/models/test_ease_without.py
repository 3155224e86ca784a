"""``EASE.without``: the model of a training matrix with entries removed, derived from the full
model by a low-rank (Woodbury) update, must score as a fresh fit on the reduced matrix does."""

import numpy as np
import pytest
import scipy.sparse as sp

from interestlm.core.protocol import TrainData, history_matrix
from interestlm.core.tables import Catalog, Interactions
from interestlm.models.ease import EASE, ReducedEASE


def _train(dense: np.ndarray) -> TrainData:
    rows, cols = np.nonzero(dense)
    n_users, n_items = dense.shape
    inter = Interactions.build(user=rows, item=cols, user_ids=[f"u{u}" for u in range(n_users)])
    return TrainData(interactions=inter, catalog=Catalog.build([f"i{i}" for i in range(n_items)]))


def _random_case(seed: int, n_users: int = 60, n_items: int = 50, cold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A binary matrix (more users than items: EASE's primal solver) and a copy with some of its
    entries removed, all among items 1-7 (few items: the low-rank update applies): each user's
    one such entry, a few users' second one, and every entry of item 1 (left without any)."""
    rng = np.random.default_rng(seed)
    full = (rng.random((n_users, n_items)) < 0.3).astype(np.float64)
    if cold:
        full[:, n_items - cold :] = 0.0
    full[rng.integers(0, n_users, 3), 1] = 1.0
    reduced = full.copy()
    for u in range(n_users):
        (items,) = np.nonzero(reduced[u, 1:8])
        for i in rng.choice(items + 1, min(len(items), 2 if u % 4 == 0 else 1), replace=False):
            reduced[u, i] = 0.0
    reduced[:, 1] = 0.0
    return full, reduced


def _scores(model: object, histories: list[np.ndarray]) -> np.ndarray:
    users = np.arange(len(histories), dtype=np.int32)
    return np.asarray(model.score(users, histories))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("seed", "cold", "dtype", "solver"),
    [(0, 0, "float64", "auto"), (1, 0, "float32", "auto"), (2, 20, "float64", "auto"), (3, 0, "float32", "dual")],
)
def test_without_scores_as_a_fresh_fit_on_the_reduced_matrix(seed: int, cold: int, dtype: str, solver: str) -> None:
    # cold=20 of 70 items: the fit inverts only the active items' block (under 95% are active).
    n_items = 50 + cold
    full, reduced = _random_case(seed, n_items=n_items, cold=cold)
    l2 = 2.0  # a small ridge: the removed entries move the weights a lot
    base = EASE(l2=l2, dtype=dtype, solver=solver).fit(_train(full))  # type: ignore[arg-type]
    fresh = EASE(l2=l2, dtype="float64", solver="primal").fit(_train(reduced))
    derived = base.without(sp.csr_matrix(full), sp.csr_matrix(reduced))
    # The primal model is updated; the dual one (a users x users inverse) refitted.
    assert isinstance(derived, ReducedEASE if solver == "auto" else EASE)

    rng = np.random.default_rng(seed + 10)
    histories = [np.flatnonzero(row).astype(np.int32) for row in reduced]
    histories += [rng.choice(n_items, 4, replace=False).astype(np.int32) for _ in range(5)]
    expected = _scores(fresh, histories)
    got = _scores(derived, histories)
    assert np.abs(expected - _scores(base, histories)).max() > 0.05  # removing entries matters here
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * np.abs(expected).max())
    # Item 1 lost every interaction: a fresh fit gives it zero weights in and out.
    assert np.all(got[:, 1] == 0.0)


def test_without_nothing_removed_is_the_model_itself() -> None:
    full, _ = _random_case(3)
    base = EASE(l2=5.0, dtype="float64").fit(_train(full))
    derived = base.without(sp.csr_matrix(full), sp.csr_matrix(full))
    histories = [np.flatnonzero(row).astype(np.int32) for row in full]
    np.testing.assert_allclose(_scores(derived, histories), _scores(base, histories), rtol=0, atol=1e-6)


def test_without_matches_the_closed_form_inverse() -> None:
    full, reduced = _random_case(4)
    l2 = 3.0
    derived = EASE(l2=l2, dtype="float64").fit(_train(full)).without(sp.csr_matrix(full), sp.csr_matrix(reduced))
    p = np.linalg.inv(reduced.T @ reduced + l2 * np.eye(full.shape[1]))
    weights = np.eye(full.shape[1]) - p / np.diag(p)[None, :]
    weights[:, 1] = weights[1, :] = 0.0  # item 1 has no interactions left
    histories = [np.flatnonzero(row).astype(np.int32) for row in full[:6]]
    expected = history_matrix(histories, full.shape[1]).toarray() @ weights
    assert isinstance(derived, ReducedEASE)
    np.testing.assert_allclose(_scores(derived, histories), expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(derived.reduced_diag[[0, 2, 3]], np.diag(p)[[0, 2, 3]], rtol=1e-5)


def test_without_refits_when_the_removed_entries_touch_many_items() -> None:
    rng = np.random.default_rng(6)
    full = (rng.random((60, 30)) < 0.4).astype(np.float64)
    reduced = full.copy()
    for u in range(60):
        reduced[u, rng.choice(np.flatnonzero(full[u]))] = 0.0  # last items spread over most items
    base = EASE(l2=2.0, dtype="float64").fit(_train(full))
    derived = base.without(sp.csr_matrix(full), sp.csr_matrix(reduced))
    assert isinstance(derived, EASE) and base.solver_ == derived.solver_ == "primal"
    np.testing.assert_array_equal(derived.weights_, EASE(l2=2.0, dtype="float64").fit(_train(reduced)).weights_)


def test_without_rejects_entries_not_in_the_training_matrix_and_loaded_weights() -> None:
    full, reduced = _random_case(5)
    base = EASE(l2=5.0).fit(_train(full))
    extra = reduced.copy()
    extra[0, np.flatnonzero(full[0] == 0)[0]] = 1.0
    with pytest.raises(ValueError, match="subset"):
        base.without(sp.csr_matrix(full), sp.csr_matrix(extra))
    with pytest.raises(ValueError, match="columns"):
        base.without(sp.csr_matrix(full[:, :-1]), sp.csr_matrix(reduced[:, :-1]))
    with pytest.raises(RuntimeError, match="inverse"):
        EASE.from_weights(base.weights_).without(sp.csr_matrix(full), sp.csr_matrix(reduced))


@pytest.mark.integration
def test_on_ml_latest_small_the_update_and_the_dual_solver_match_fresh_primal_fits() -> None:
    """Each user's last item held out, as fusion learning does: the low-rank update of the primal
    model and a dual fit score the held-out histories as a fresh primal fit does (all float32)."""
    from interestlm.data.registry import load_dataset
    from interestlm.testing import shared_data

    dataset = load_dataset("ml-latest-small", data_root=shared_data("ml-latest-small").parent)
    sequences = dataset.interactions.sequences()
    n_items = len(dataset.catalog)
    held_out = [s[:-1] if len(s) >= 2 else s for s in sequences]
    full, reduced = history_matrix(sequences, n_items), history_matrix(held_out, n_items)
    primal = EASE(solver="primal").fit_matrix(full)
    np.testing.assert_allclose(
        EASE().fit_matrix(full).weights_, primal.weights_, rtol=0, atol=1e-5 * np.abs(primal.weights_).max()
    )
    fresh = _scores(EASE(solver="primal").fit_matrix(reduced), held_out)
    updated = primal.without(full, reduced)
    assert isinstance(updated, ReducedEASE)  # 514 items hold a last item, of 9,742
    tolerance = 5e-5 * np.abs(fresh).max()  # a float32 inverse is ~2e-5 (relative) from the exact one
    np.testing.assert_allclose(_scores(updated, held_out), fresh, rtol=0, atol=tolerance)
    np.testing.assert_allclose(_scores(EASE().fit_matrix(reduced), held_out), fresh, rtol=0, atol=tolerance)
