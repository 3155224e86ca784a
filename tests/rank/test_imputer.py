import numpy as np

from interestlm.rank.fusion import Imputer


def test_imputer_recovers_a_planted_linear_relation_and_fills_only_cold_columns() -> None:
    rng = np.random.default_rng(0)
    interest = rng.standard_normal((50, 40)).astype(np.float32)
    concept = rng.standard_normal((50, 40)).astype(np.float32)
    collaborative = (2.0 * interest - 0.5 * concept + 1.0).astype(np.float32)
    cold = np.zeros(40, dtype=bool)
    cold[-5:] = True
    collaborative[:, cold] = 0.0  # cold items have no interaction evidence
    signals = {"interest": interest, "concept": concept, "collaborative": collaborative}
    imputer = Imputer.fit(signals, ~cold)
    coef = imputer.coefficients["collaborative"]
    assert abs(coef["interest"] - 2.0) < 1e-4 and abs(coef["concept"] + 0.5) < 1e-4
    assert abs(coef["_intercept"] - 1.0) < 1e-4
    filled = imputer.apply(signals, cold)
    np.testing.assert_allclose(filled["collaborative"][:, cold], (2 * interest - 0.5 * concept + 1)[:, cold], atol=1e-4)
    np.testing.assert_array_equal(filled["collaborative"][:, ~cold], collaborative[:, ~cold])
    assert filled["interest"] is interest


def test_imputer_without_content_signals_is_a_no_op() -> None:
    signals = {"collaborative": np.ones((2, 3), np.float32)}
    imputer = Imputer.fit(signals, np.ones(3, bool))
    assert imputer.coefficients == {}
    assert imputer.apply(signals, np.ones(3, bool)) is signals
