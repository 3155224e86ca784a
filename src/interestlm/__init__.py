"""interestlm: readable user-interest profiles built with language models.

The front door is :class:`Recommender` (fit, recommend, profile, explain, update, edit, save,
load); evaluation (splits, full ranking, baselines, reports) is :mod:`interestlm.evaluate`, which
the library itself never imports.

Names are imported on first use (PEP 562), so ``import interestlm`` (and ``interestlm --help``)
does not pay for numpy, scikit-learn, FAISS and onnxruntime until something needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interestlm.core.lazy import lazy_exports

if TYPE_CHECKING:
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

#: Public name -> the module that defines it.
_EXPORTS = {
    "BadInputError": "interestlm.core.errors",
    "Catalog": "interestlm.data",
    "ConfigError": "interestlm.core.errors",
    "ConflictError": "interestlm.core.errors",
    "Dataset": "interestlm.data",
    "Interactions": "interestlm.data",
    "InterestLMError": "interestlm.core.errors",
    "NotFittedError": "interestlm.core.errors",
    "Recommendation": "interestlm.recommender",
    "Recommender": "interestlm.recommender",
    "RecommenderConfig": "interestlm.config",
    "UnknownConceptError": "interestlm.core.errors",
    "UnknownIdError": "interestlm.core.errors",
    "describe": "interestlm.data",
    "from_pandas": "interestlm.data",
    "load_dataset": "interestlm.data",
}

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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
