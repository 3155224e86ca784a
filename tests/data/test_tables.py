"""Catalog columns that have defaults: release times."""

from __future__ import annotations

import numpy as np
import pytest

from interestlm.core.tables import Catalog


def test_release_times_default_to_unknown_and_follow_the_rows() -> None:
    plain = Catalog.build(["a", "b"])
    assert plain.released.dtype == np.float64 and np.isnan(plain.released).all()
    direct = Catalog(
        item_ids=np.array(["a"], dtype=object), titles=[""], descriptions=[""], categories=[()], tags=[()],
        brands=[""], attributes=[()],
    )  # fmt: skip
    assert np.isnan(direct.released).all() and len(direct.released) == 1
    dated = Catalog.build(["a", "b", "c"], released=[3.0, np.nan, 1.0])
    assert np.array_equal(dated.take(np.array([2, 1])).released, [1.0, np.nan], equal_nan=True)
    with pytest.raises(ValueError, match=r"Catalog\.released has 1 rows, expected 2"):
        Catalog.build(["a", "b"], released=[1.0])
