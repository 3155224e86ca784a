"""ID-only SASRec given the same live log and new-item lift as seqrec's trend (session 10).

Usage: python benchmarks/id_with_live_log.py [--dataset ml-100k] [--share 0.2] [--seed 0]

How much of seqrec's temporal cold start is the log and how much is the item content? An ID-only
model has nothing to say about an item it never trained on: its score comes from the untrained
initial vector, noise that only breaks ties. Here every new item gets the lift on top of that:
``offset + affinity * share + weight * log(1 + live count)``, the three chosen on the validation
rows exactly as
``SeqRec.calibrate_new_items`` chooses them (:func:`~interestlm.models.calibrate.best_lift`), from
the same log (``bench_cold_items.after_training_events``). Warm items keep SASRec's scores. The
split is ``bench_cold_items.py --newest``'s. Writes
``results/cold-newest/<dataset>__sasrec-live-log__share<pct>[__seed<N>].json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from interestlm.core.protocol import EvalTask, Model, TrainData
from interestlm.evaluate.runner import EvaluationConfig, evaluate_fitted, fit_model
from interestlm.models.calibrate import LiftBlock, best_lift, recent_new_share, window_counts

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_cold_items import after_training_events, newest_setup  # noqa: E402
from run_baselines import result_path  # noqa: E402

WINDOW_ITEMS = 10  # seqrec's new_item_window
TREND_DAYS = 30.0  # seqrec's new_item_trend_days


class LiveLogLifted:
    """A fitted ID-only model with the lift added to its new items' scores (a TimedModel)."""

    def __init__(self, model: Model, new: npt.NDArray[np.bool_], log: tuple[np.ndarray, np.ndarray]) -> None:
        self.model, self.new, self.log = model, new, log
        self.lift = (0.0, 0.0, 0.0)

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Nothing to learn here: the wrapped model is fitted already."""
        return self

    def parts(self, users: np.ndarray, histories: list[np.ndarray], times: np.ndarray) -> tuple[np.ndarray, ...]:
        """The model's scores, each row's recent new share and each new item's log(1 + count).
        (Setting new items' scores to one constant instead would tie them all, and ties rank by
        item index, which on MovieLens follows release order: a hidden signal, not a baseline.)"""
        scores = self.model.score(users, histories).astype(np.float32)
        counts = window_counts(*self.log, len(self.new), times, TREND_DAYS * 86400.0)
        trending = (np.log1p(counts) * self.new).astype(np.float32)
        return scores, recent_new_share(histories, self.new, WINDOW_ITEMS), trending

    def score_at(self, users: np.ndarray, histories: list[np.ndarray], times: np.ndarray) -> np.ndarray:
        """Scores with the lift on new items, as of each row's request time."""
        scores, shares, trending = self.parts(users, histories, times)
        offset, slope, weight = self.lift
        scores[:, self.new] += (offset + slope * shares)[:, None]
        return scores + np.float32(weight) * trending

    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        """Scores as of the log's end."""
        return self.score_at(users, histories, np.full(len(histories), np.nan))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _, settings, dataset, split = newest_setup(args.dataset, args.share)
    assert split.valid is not None and split.valid.times is not None
    config = EvaluationConfig(split="loo", ks=(5, 10, 20), seed=args.seed, models=settings)
    sasrec, model_config, fit_seconds = fit_model(dataset, split, "sasrec", config)
    new = np.bincount(split.train.interactions.item, minlength=split.train.n_items) == 0
    lifted = LiveLogLifted(sasrec, new, after_training_events(dataset, split))
    valid = split.valid
    scores, shares, trending = lifted.parts(valid.users, valid.histories, valid.times)
    seen = [valid.exclude[j].indices for j in range(len(valid))]
    block = LiftBlock(scores=scores, targets=valid.targets, seen=seen, shares=shares, trending=trending)
    out: dict[str, Any] = {}
    for name, affinity in (("with affinity", True), ("without affinity", False)):
        lifted.lift = best_lift([block], new, affinity=affinity)
        result = evaluate_fitted(dataset, split, "sasrec", lifted, model_config, fit_seconds, config)  # type: ignore[arg-type]
        out[name] = {k: result[k] for k in ("metrics", "slices")} | {"lift": lifted.lift}
        s = result["slices"]
        print(f"{name}: lift={lifted.lift} recall@10={result['metrics']['recall@10']:.4f} "
              f"ndcg@10={result['metrics']['ndcg@10']:.4f} unseen={s['cold_items']['metrics']['recall@10']:.4f} "
              f"warm={s['warm_items']['metrics']['recall@10']:.4f}", file=sys.stderr)  # fmt: skip
    plain = evaluate_fitted(dataset, split, "sasrec", sasrec, model_config, fit_seconds, config)
    out = {**plain, "split": f"loo, {args.share:.0%} of items held out of training (newest)", "live_log": out}
    name = f"sasrec-live-log__share{round(100 * args.share)}"
    path = result_path(HERE / "results" / "cold-newest", args.dataset, name, args.seed)
    path.write_text(json.dumps(out, indent=2, default=float) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
