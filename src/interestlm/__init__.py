"""interestlm: readable user-interest profiles built with language models."""

__version__ = "0.1.0"

__all__ = ["__version__"]
