"""⑥ Ranking: named signals, learned fusion weights, filters, user edits and MMR diversity."""

from interestlm.rank.fusion import Fusion, FusionLearner, fused_scores
from interestlm.rank.rerank import edit_mask, filter_seen, mmr, rank_items
from interestlm.rank.signals import EASE_MAX_ITEMS, SIGNALS, SignalContext, compute_signals, standardise

__all__ = [
    "EASE_MAX_ITEMS",
    "SIGNALS",
    "Fusion",
    "FusionLearner",
    "SignalContext",
    "compute_signals",
    "edit_mask",
    "filter_seen",
    "fused_scores",
    "mmr",
    "rank_items",
    "standardise",
]
