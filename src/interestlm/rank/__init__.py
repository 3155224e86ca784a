"""⑥ Ranking: named signals, learned fusion weights, user edits, filters and MMR diversity.

:class:`Ranker` is the one place a ranked list is made (library, evaluation and service).
"""

from interestlm.rank.fusion import Fusion, FusionLearner, Imputer
from interestlm.rank.ranker import PIN, PIN_SHARE, Ranked, Ranker, cold_items, fit_ranker
from interestlm.rank.rerank import edit_mask, mmr
from interestlm.rank.signals import EASE_MAX_ITEMS, SignalContext, compute_signals, standardise

__all__ = [
    "EASE_MAX_ITEMS",
    "PIN",
    "PIN_SHARE",
    "Fusion",
    "FusionLearner",
    "Imputer",
    "Ranked",
    "Ranker",
    "SignalContext",
    "cold_items",
    "compute_signals",
    "edit_mask",
    "fit_ranker",
    "mmr",
    "standardise",
]
