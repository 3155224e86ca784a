"""interestlm: readable user-interest profiles built with language models.

This release holds the spine every later stage plugs into: canonical data tables and readers,
splits, full-ranking evaluation and strong baselines.
"""

from interestlm.data import Catalog, Dataset, Interactions, describe, load_dataset
from interestlm.evaluate.runner import EvaluationConfig, evaluate_model, make_split, run_evaluation
from interestlm.evaluate.split import Split, leave_one_out, temporal_split

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "Dataset",
    "EvaluationConfig",
    "Interactions",
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
