"""interestlm: readable user-interest profiles built with language models.

The front door is :class:`Recommender` (fit, recommend, profile, explain, update, edit, save,
load); evaluation (splits, full ranking, baselines, reports) is :mod:`interestlm.evaluate`, which
the library itself never imports.
"""

from interestlm.config import RecommenderConfig
from interestlm.core.errors import (
    BadInputError,
    ConfigError,
    ConflictError,
    InterestLMError,
    NotFittedError,
    UnknownConceptError,
    UnknownIdError,
)
from interestlm.data import Catalog, Dataset, Interactions, describe, from_pandas, load_dataset
from interestlm.recommender import Recommendation, Recommender

__version__ = "0.1.0"

__all__ = [
    "BadInputError",
    "Catalog",
    "ConfigError",
    "ConflictError",
    "Dataset",
    "Interactions",
    "InterestLMError",
    "NotFittedError",
    "Recommendation",
    "Recommender",
    "RecommenderConfig",
    "UnknownConceptError",
    "UnknownIdError",
    "__version__",
    "describe",
    "from_pandas",
    "load_dataset",
]
