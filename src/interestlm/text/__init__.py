"""Items and user histories as text (pure template functions)."""

from interestlm.text.templates import clip, history_text, item_name, item_text, item_texts, review_snippets

__all__ = ["clip", "history_text", "item_name", "item_text", "item_texts", "review_snippets"]
