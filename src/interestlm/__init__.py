"""interestlm: readable user-interest profiles built with language models.

The front door is :class:`Recommender` (fit, recommend, profile, explain, update, save, load);
evaluation (splits, full ranking, baselines) sits beside it.
"""

from interestlm.data import Catalog, Dataset, Interactions, describe, load_dataset
from interestlm.evaluate.runner import EvaluationConfig, evaluate_model, make_split, run_evaluation
from interestlm.evaluate.split import Split, leave_one_out, temporal_split
from interestlm.recommender import Recommendation, Recommender, RecommenderConfig

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "Dataset",
    "EvaluationConfig",
    "Interactions",
    "Recommendation",
    "Recommender",
    "RecommenderConfig",
    "Split",
    "__version__",
    "describe",
    "evaluate_model",
    "leave_one_out",
    "load_dataset",
    "make_split",
    "run_evaluation",
    "temporal_split",
]
