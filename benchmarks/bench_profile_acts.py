"""Does the profile act? Edit effect and explanation faithfulness on real users, one run.

For sampled users of a dataset (default ml-latest-small, users with >= 20 training events):

* **interest reweight**: the top-10 items whose explanation names interest ``c`` (the interest
  explaining most of the list); set ``c``'s weight to 0; the share of those items that leave the
  top-10 (goal >= 0.8);
* **mute**: mute the concept with the largest concept weight among the top-10 items' concepts;
  the share of the top-10 items carrying it that leave (goal 1.0), and whether any recommended
  item still carries it (goal 0);
* **faithfulness**: the share of explanations whose stated interest carried at least
  ``MIN_SHARE`` of the item's positive score (an explanation that names an interest the score
  did not depend on is unfaithful), and the share whose stated reason is the largest signal.

The first two use only ``recommend`` / ``edit`` / ``explanation.interest``, so the same script
measures an older checkout (run it with that checkout's ``src`` first on ``PYTHONPATH`` and
``--label before``); results are merged into ``benchmarks/results/profile/profile_acts.json``.

Usage: python benchmarks/bench_profile_acts.py [--dataset ml-latest-small] [--users 100] [--label after]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from encoder_cache import default_cache_dir
from interestlm.config import recommender_config
from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import hardware, versions
from interestlm.recommender import Recommender

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "profile" / "profile_acts.json"
MIN_SHARE = 0.2


def settings(dataset: str) -> dict[str, Any]:
    """The benchmark's own [models.interest] settings for ``dataset`` (benchmarks/config.toml)."""
    import tomllib

    raw = tomllib.loads((HERE / "config.toml").read_text())
    merged = dict(raw.get("models", {}).get("interest", {}))
    merged.update(raw.get("datasets", {}).get(dataset, {}).get("models", {}).get("interest", {}))
    return merged


def item_concepts_of(rec: Recommender, item: int) -> list[tuple[str, float]]:
    state = getattr(rec, "state_", None)
    concepts = state.item_concepts if state is not None else rec.item_concepts_  # type: ignore[attr-defined]
    return [(concepts.names[c], w) for c, w in concepts.of_item(item)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--label", default="after")
    parser.add_argument("--cache-dir", default=default_cache_dir())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    config = recommender_config({"recommender": {**settings(args.dataset), "cache_dir": args.cache_dir}})
    t0 = time.perf_counter()
    rec = Recommender(config).fit(dataset)
    fit_seconds = time.perf_counter() - t0
    counts = np.bincount(dataset.interactions.user, minlength=dataset.n_users)
    rng = np.random.default_rng(args.seed)
    eligible = np.flatnonzero(counts >= 20)
    users = [str(dataset.interactions.user_ids[u]) for u in sorted(rng.choice(eligible, args.users, replace=False))]

    removed_by_reweight: list[float] = []
    removed_by_mute: list[float] = []
    still_carrying = 0
    named = faithful = reason_total = reason_top = 0
    for user in users:
        recs = rec.recommend(user, 10)
        by_interest: dict[int, list[int]] = {}
        for r in recs:
            e = r.explanation
            if e is not None and e.interest is not None:
                by_interest.setdefault(e.interest, []).append(r.item)
            shares = getattr(r, "contributions", None)
            if e is not None and shares:
                positive = sum(v for v in shares.values() if v > 0) or 1.0
                if e.interest is not None:
                    named += 1
                    faithful += max(shares.get("interest", 0.0), 0.0) / positive >= MIN_SHARE
                reason_total += 1
                reason_top += getattr(e, "reason", None) == max(shares, key=lambda n: shares[n])
        if by_interest:
            c, items = max(by_interest.items(), key=lambda kv: (len(kv[1]), -kv[0]))
            if len(items) >= 2:
                rec.edit(user, interest_weights={c: 0.0})
                after = {r.item for r in rec.recommend(user, 10, explain=False)}
                removed_by_reweight.append(float(np.mean([i not in after for i in items])))
                rec.edit(user, interest_weights={c: None})
        weights: dict[str, float] = {}
        for r in recs:
            for name, w in item_concepts_of(rec, r.item):
                weights[name] = weights.get(name, 0.0) + w
        if weights:
            concept = max(weights, key=lambda n: (weights[n], n))
            carrying = [r.item for r in recs if any(n == concept for n, _ in item_concepts_of(rec, r.item))]
            rec.edit(user, mute=[concept])
            after_items = [r.item for r in rec.recommend(user, 10, explain=False)]
            removed_by_mute.append(float(np.mean([i not in after_items for i in carrying])))
            still_carrying += any(n == concept for i in after_items for n, _ in item_concepts_of(rec, i))
            rec.edit(user, unmute=[concept])

    result = {
        "dataset": args.dataset,
        "users": len(users),
        "interest_reweight_removed_share_mean": float(np.mean(removed_by_reweight)) if removed_by_reweight else None,
        "interest_reweight_users": len(removed_by_reweight),
        "interest_reweight_users_at_least_0.8": int(np.sum(np.asarray(removed_by_reweight) >= 0.8)),
        "mute_removed_share_mean": float(np.mean(removed_by_mute)) if removed_by_mute else None,
        "mute_lists_still_carrying": still_carrying,
        "explanations_naming_an_interest": named,
        "named_interest_carried_share_ge_min": (faithful / named) if named else None,
        "reason_is_largest_signal": (reason_top / reason_total) if reason_total else None,
        "fusion_weights": rec.fusion_.weights,
        "fit_seconds": round(fit_seconds, 1),
        "hardware": hardware(),
        "versions": versions(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    stored = json.loads(OUT.read_text()) if OUT.exists() else {}
    stored.setdefault(args.dataset, {})[args.label] = result
    OUT.write_text(json.dumps(stored, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("hardware", "versions")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
