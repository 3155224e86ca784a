"""The HTTP service: ``create_app(artifacts_dir | recommender, settings=...)`` and its settings."""

from interestlm.serve.app import create_app
from interestlm.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
