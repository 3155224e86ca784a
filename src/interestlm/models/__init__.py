"""Trainable and baseline recommenders, by name (the product's own ``interest`` model is the
:class:`~interestlm.recommender.Recommender`, registered beside these by ``interestlm.evaluate``).

Every model follows :class:`interestlm.core.protocol.Model`: ``__init__`` stores
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
seqrec    text- and concept-aware SASRec (torch, lazy)           :mod:`.seqrec`
bsarec    BSARec, frequency filter + attention (torch, lazy)     :mod:`.bsarec`
========  =====================================================  ==========================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interestlm.core.errors import ConfigError
from interestlm.core.protocol import Model
from interestlm.models.ease import EASE
from interestlm.models.itemknn import ItemKNN
from interestlm.models.pop import MostPopular


def _als(**config: Any) -> Model:
    # implicit is an optional extra: import it only when an MF model is asked for.
    from interestlm.models.mf import ALS

    return ALS(**config)


def _bpr(**config: Any) -> Model:
    from interestlm.models.mf import BPR

    return BPR(**config)


def _sasrec(**config: Any) -> Model:
    # torch is heavy and optional: only import it when SASRec is asked for.
    from interestlm.models.sasrec import SASRec

    return SASRec(**config)


def _seqrec(**config: Any) -> Model:
    from interestlm.models.seqrec import SeqRec

    return SeqRec(**config)


def _bsarec(**config: Any) -> Model:
    from interestlm.models.bsarec import BSARec

    return BSARec(**config)


#: Model factories by name; each takes the model's keyword config.
BASELINES: dict[str, Callable[..., Model]] = {
    "pop": MostPopular,
    "itemknn": ItemKNN,
    "ease": EASE,
    "als": _als,
    "bpr": _bpr,
    "sasrec": _sasrec,
    "seqrec": _seqrec,
    "bsarec": _bsarec,
}


def make_model(name: str, **config: Any) -> Model:
    """A new, unfitted baseline ``name`` built with keyword ``config``."""
    try:
        factory = BASELINES[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(BASELINES))}") from None
    return factory(**config)


__all__ = ["BASELINES", "EASE", "ItemKNN", "MostPopular", "make_model"]
