"""Grounded explanations of recommendations: evidence from the user's own history, rendered as one sentence."""

from interestlm.core.schema import Explanation
from interestlm.explain.explainer import explain_item, explain_many
from interestlm.explain.explanation import citable_items, grounding_rate
from interestlm.explain.sentence import render

__all__ = ["Explanation", "citable_items", "explain_item", "explain_many", "grounding_rate", "render"]
