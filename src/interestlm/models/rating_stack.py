"""The rating model ``Recommender.predict`` serves and ``interestlm evaluate --task rating`` reports
as ``interest``: one factory, one fitting function, so the number measured is the model served.

The stack (:class:`~interestlm.models.rating_fused.RatingBlend`) weighs ``FusedRating`` (biases,
SVD++ factors, item text and categories, the profile's taste), SVD++, the two pearson-baseline
neighbourhood models, the biases and I-AutoRec by a ridge fitted on out-of-fold predictions of the
training ratings; members too large for the data (dense similarities past
:data:`~interestlm.models.rating.MAX_DENSE_ITEMS` entities, AutoRec past
:data:`~interestlm.models.rating_autorec.MAX_CELLS` cells) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from interestlm.models.rating import BaselineOnly, KNNBaseline, Ratings, SVDpp
from interestlm.models.rating_autorec import AutoRec
from interestlm.models.rating_fused import FusedRating, ItemFeaturizer, RatingBlend


def interest_stack(seed: int = 0) -> RatingBlend:
    """The unfitted stack (see the module docstring), every member seeded by ``seed``."""
    return RatingBlend(
        {
            "fused": lambda: FusedRating(seed=seed),
            "svdpp": lambda: SVDpp(seed=seed),
            "knn_item": lambda: KNNBaseline(sim="pearson_baseline", user_based=None),
            "knn_user": lambda: KNNBaseline(sim="pearson_baseline", user_based=True),
            "baseline": BaselineOnly,
            "autorec": lambda: AutoRec(seed=seed),
        },
        seed=seed,
    )


def fit_interest_stack(
    train: Ratings,
    text_vectors: npt.NDArray[np.floating] | None,
    categories: Sequence[Sequence[str]] | None,
    *,
    seed: int = 0,
) -> RatingBlend:
    """:func:`interest_stack` fitted on ``train``, with content features made from the items'
    text vectors and categories by an :class:`ItemFeaturizer` fitted on them (kept, so items
    added later get features the same way)."""
    featurizer = ItemFeaturizer().fit(text_vectors, categories)
    features = featurizer.transform(text_vectors, categories)
    return interest_stack(seed).fit(train, features=features, featurizer=featurizer)
