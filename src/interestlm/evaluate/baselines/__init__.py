"""Baseline recommenders for full-ranking evaluation, by name.

Every baseline follows :class:`interestlm.evaluate.protocol.Model`: ``__init__`` stores
keyword config only, ``fit(train)`` learns (attributes ending in ``_``), ``score(users,
histories)`` scores every catalog item from the histories it is given.

========  =====================================================  ==========================
name      model                                                  module
========  =====================================================  ==========================
pop       most popular (training interaction counts)             :mod:`.pop`
itemknn   item-item cosine kNN                                   :mod:`.itemknn`
ease      EASE closed-form linear autoencoder (Steck 2019)       :mod:`.ease`
als       implicit-feedback ALS (``implicit``)                   :mod:`.mf`
bpr       Bayesian personalised ranking (``implicit``)           :mod:`.mf`
sasrec    ID-only SASRec (torch; imported only when asked for)   :mod:`.sasrec`
seqrec    text- and concept-aware SASRec (torch, lazy)           :mod:`interestlm.learn.seqrec`
interest  the interest-profile recommender (fused signals)       :mod:`interestlm.recommender`
========  =====================================================  ==========================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interestlm.evaluate.baselines.ease import EASE
from interestlm.evaluate.baselines.itemknn import ItemKNN
from interestlm.evaluate.baselines.pop import MostPopular
from interestlm.evaluate.protocol import Model


def _als(**config: Any) -> Model:
    # implicit is an optional extra: import it only when an MF model is asked for.
    from interestlm.evaluate.baselines.mf import ALS

    return ALS(**config)


def _bpr(**config: Any) -> Model:
    from interestlm.evaluate.baselines.mf import BPR

    return BPR(**config)


def _sasrec(**config: Any) -> Model:
    # torch is heavy and optional: only import it when SASRec is asked for.
    from interestlm.evaluate.baselines.sasrec import SASRec

    return SASRec(**config)


def _seqrec(**config: Any) -> Model:
    from interestlm.learn.seqrec import SeqRec

    return SeqRec(**config)


def _interest(**config: Any) -> Model:
    # The product itself, evaluated beside the baselines; its config is the [recommender] table.
    from interestlm.config import recommender_config
    from interestlm.recommender import Recommender

    return Recommender(recommender_config({"recommender": config}))


#: Baseline factories by name; each takes the model's keyword config.
BASELINES: dict[str, Callable[..., Model]] = {
    "pop": MostPopular,
    "itemknn": ItemKNN,
    "ease": EASE,
    "als": _als,
    "bpr": _bpr,
    "sasrec": _sasrec,
    "seqrec": _seqrec,
    "interest": _interest,
}


def make_model(name: str, **config: Any) -> Model:
    """A new, unfitted baseline ``name`` built with keyword ``config``."""
    try:
        factory = BASELINES[name]
    except KeyError:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(sorted(BASELINES))}") from None
    return factory(**config)


__all__ = ["BASELINES", "EASE", "ItemKNN", "MostPopular", "make_model"]
