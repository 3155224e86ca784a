"""⑧a Evaluation: splits, the full-ranking protocol, metrics and reports.

It imports the models and the recommender; nothing in the library imports it (only the command
line and the benchmarks do).
"""

from interestlm.evaluate.runner import EvaluationConfig, evaluate_model, evaluation_config, make_split, run_evaluation
from interestlm.evaluate.split import Split, leave_one_out, temporal_split

__all__ = [
    "EvaluationConfig",
    "Split",
    "evaluate_model",
    "evaluation_config",
    "leave_one_out",
    "make_split",
    "run_evaluation",
    "temporal_split",
]
