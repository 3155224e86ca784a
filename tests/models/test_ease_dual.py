"""EASE's dual solver (a users x users inverse) gives the primal solver's model."""

import numpy as np
import pytest

from interestlm.core.protocol import TrainData
from interestlm.core.tables import Catalog, Interactions
from interestlm.models.ease import EASE


def _train(dense: np.ndarray) -> TrainData:
    rows, cols = np.nonzero(dense)
    n_users, n_items = dense.shape
    inter = Interactions.build(user=rows, item=cols, user_ids=[f"u{u}" for u in range(n_users)])
    return TrainData(interactions=inter, catalog=Catalog.build([f"i{i}" for i in range(n_items)]))


@pytest.mark.parametrize(
    ("n_users", "n_items", "density"),
    [(12, 40, 0.3), (30, 25, 0.3), (20, 300, 0.01)],  # dense product; more users than items; sparse product
)
def test_dual_solver_gives_the_primal_model(n_users: int, n_items: int, density: float) -> None:
    rng = np.random.default_rng(n_users)
    dense = (rng.random((n_users, n_items)) < density).astype(np.float64)
    dense[:, :3] = 0.0  # cold items
    dense[0] = 0.0  # a user without items
    dense[1, 3:8] = 1.0
    l2 = 2.0  # small: the weights are large and differ much between items
    primal = EASE(l2=l2, dtype="float64", solver="primal").fit(_train(dense))
    dual = EASE(l2=l2, solver="dual").fit(_train(dense))
    assert (primal.solver_, dual.solver_) == ("primal", "dual")
    assert np.abs(primal.weights_).max() > 0.1
    np.testing.assert_allclose(dual.weights_, primal.weights_, rtol=0, atol=1e-6 * np.abs(primal.weights_).max())
    np.testing.assert_allclose(dual.inverse_diag_, primal.inverse_diag_, rtol=1e-9)
    assert np.all(np.diag(dual.weights_) == 0) and dual.weights_.dtype == np.float32
    assert np.all(dual.weights_[:3] == 0) and np.all(dual.weights_[:, :3] == 0)


def test_auto_picks_the_dual_solver_with_a_quarter_as_many_users_as_items() -> None:
    rng = np.random.default_rng(0)
    wide = (rng.random((5, 20)) < 0.5).astype(np.float64)
    wide[:, 0] = 1.0  # every item active
    wide[0] = 1.0
    assert EASE(l2=1.0).fit(_train(wide)).solver_ == "dual"
    assert EASE(l2=1.0).fit(_train(wide[:, :19])).solver_ == "primal"  # 5 users, 19 items
    assert EASE(l2=1.0).fit(_train(wide.T.copy())).solver_ == "primal"
    with pytest.raises(ValueError, match="solver"):
        EASE(solver="qr").fit(_train(wide))  # type: ignore[arg-type]
