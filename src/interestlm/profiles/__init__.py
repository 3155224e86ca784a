"""Layered user-interest profiles: history, sentiment, clustering into interests, updates, summary, JSON."""

from interestlm.profiles.builder import ProfileBuilder, ProfileConfig
from interestlm.profiles.edits import edit_profile, effective_interest_weights
from interestlm.profiles.history import histories_from_interactions, history_from_items
from interestlm.profiles.json import profile_from_state, profile_state, profile_to_json, profile_vectors
from interestlm.profiles.sentiment import RatingLevels, ReviewSentiment, combine_polarity, rating_polarity
from interestlm.profiles.summary import template_summary

__all__ = [
    "ProfileBuilder",
    "ProfileConfig",
    "RatingLevels",
    "ReviewSentiment",
    "combine_polarity",
    "edit_profile",
    "effective_interest_weights",
    "histories_from_interactions",
    "history_from_items",
    "profile_from_state",
    "profile_state",
    "profile_to_json",
    "profile_vectors",
    "rating_polarity",
    "template_summary",
]
