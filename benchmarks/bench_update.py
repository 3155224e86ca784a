"""Profile speed: build every profile, then incremental ``update()`` against a rebuild from scratch.

Usage: python benchmarks/bench_update.py [--dataset ml-latest-small-sample] [--updates 1000]
       [--encoder minilm|hashing] [--cache-dir DIR] [--seed 0]

Item vectors come from the default encoder (int8 ONNX MiniLM, via ``interestlm.encode.make_encoder``)
and fall back to the hashing encoder when that is unavailable (the JSON says which). Concepts and
the concept graph come from ``interestlm.concepts``. After building all profiles, ``--updates``
events (random users, random catalog items, kinds mixed uniformly over view, click, like, dislike,
rate, review) are applied one at a time; each update is timed, and so is a rebuild of that user's
profile from scratch on the same (updated) history, in the same run. Numbers are wall-clock
milliseconds with numeric libraries held to one thread; CPU milliseconds of the process are
recorded too, because the machine may be shared (its load average is in the JSON). Agreement of
update() with a rebuild is measured twice: after the random events above, and by replaying each
user's last ``--replay`` real ratings onto a profile built without them ("replay"). Writes
``benchmarks/results/speed/bench_update.json`` with hardware and versions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from interestlm.concepts import build_concept_graph, extract_concepts
from interestlm.core.schema import EVENT_KINDS, Event, History, InterestProfile
from interestlm.data.registry import load_dataset
from interestlm.encode import Encoder, HashingEncoder
from interestlm.evaluate.runner import hardware, versions
from interestlm.profiles import ProfileBuilder, ProfileConfig, ReviewSentiment, histories_from_interactions
from interestlm.text import item_texts

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
REVIEWS = [
    "Loved it, one of the best I have seen in years.",
    "Boring and far too long. I would not watch it again.",
    "Decent, some great moments but a weak ending.",
    "Terrible acting, awful script. A waste of time.",
]


def make_vectors(texts: list[str], encoder_name: str, cache_dir: Path) -> tuple[np.ndarray, str, bool]:
    """Vectors of ``texts``, the encoder's model id, and whether we fell back to hashing."""
    encoder: Encoder
    fallback = False
    if encoder_name == "hashing":
        encoder = HashingEncoder(dim=384)
    else:
        try:
            from interestlm.encode import make_encoder

            encoder = make_encoder(encoder_name, cache_dir=cache_dir, threads=1)
        except (ImportError, OSError, ValueError) as err:
            print(f"encoder {encoder_name!r} unavailable ({err}); falling back to hashing", file=sys.stderr)
            encoder, fallback = HashingEncoder(dim=384), True
    return encoder.encode(texts, batch_size=64), encoder.model_id, fallback


def stats_ms(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {
        "median_ms": round(float(np.median(ms)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def replay_agreement(
    builder: ProfileBuilder, user_ids: list[str], histories: list[History], n_events: int
) -> dict[str, Any]:
    """Build on each user's history minus its last ``n_events`` rows, replay those rows as events
    (``rate`` with the row's rating, else ``view``), and compare with a build on the full history."""
    users = 0
    counts = {"update": 0, "prefix": 0}
    labels = {"update": 0, "prefix": 0}
    l1: dict[str, list[float]] = {"update": [], "prefix": []}
    ari: dict[str, list[float]] = {"update": [], "prefix": []}
    for user_id, h in zip(user_ids, histories, strict=True):
        if len(h) <= n_events + 1:
            continue
        cut = len(h) - n_events
        prefix = History(items=h.items[:cut], timestamps=h.timestamps[:cut], ratings=h.ratings[:cut],
                         polarity=h.polarity[:cut])
        profile = before = builder.build(user_id, prefix)
        for j in range(cut, len(h)):
            rated = not np.isnan(h.ratings[j])
            profile = builder.update(profile, Event(
                item=int(h.items[j]), kind="rate" if rated else "view", timestamp=int(h.timestamps[j]),
                value=float(h.ratings[j]) if rated else None,
            ))
        full = builder.build(user_id, h)
        users += 1
        for name, other in (("update", profile), ("prefix", before)):
            counts[name] += len(other.interests) == len(full.interests)
            labels[name] += label_sets(other) == label_sets(full)
            l1[name].append(weight_l1(other, full))
            ari[name].append(partition_agreement(other, full))
    return {
        "events_replayed_per_user": n_events,
        "users": users,
        # update(): the prefix profile after replaying the events; prefix: the prefix profile as it
        # was (how much a rebuild itself moves when a few events arrive, for scale).
        **{
            name: {
                "same_interest_count": round(counts[name] / max(users, 1), 3),
                "same_labels": round(labels[name] / max(users, 1), 3),
                "median_weight_l1_by_label": round(float(np.median(l1[name])), 4) if l1[name] else None,
                "mean_adjusted_rand_index": round(float(np.mean(ari[name])), 4) if ari[name] else None,
            }
            for name in ("update", "prefix")
        },
    }


def partition_agreement(a: InterestProfile, b: InterestProfile) -> float:
    """Adjusted Rand index of the two profiles' item-to-interest partitions, on the items both cluster."""
    owner_a = {x: k for k, i in enumerate(a.interests) for x in i.items}
    owner_b = {x: k for k, i in enumerate(b.interests) for x in i.items}
    common = sorted(set(owner_a) & set(owner_b))
    if len(common) < 2:
        return 1.0
    return float(adjusted_rand_score([owner_a[x] for x in common], [owner_b[x] for x in common]))


def label_sets(profile: InterestProfile) -> list[frozenset[str]]:
    """Interest labels as sets of concept names, sorted (label word order is not a difference)."""
    return sorted((frozenset(i.label.split(" & ")) for i in profile.interests), key=sorted)


def weight_l1(a: InterestProfile, b: InterestProfile) -> float:
    """L1 distance between the two profiles' interest weights, matched by label concept set."""
    wa: dict[frozenset[str], float] = {}
    wb: dict[frozenset[str], float] = {}
    for profile, out in ((a, wa), (b, wb)):
        for i in profile.interests:
            key = frozenset(i.label.split(" & "))
            out[key] = out.get(key, 0.0) + i.weight
    return sum(abs(wa.get(k, 0.0) - wb.get(k, 0.0)) for k in set(wa) | set(wb))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-latest-small-sample")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "interestlm-bench-vectors")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replay", type=int, default=5, help="real events replayed per user for the agreement check")
    parser.add_argument("--out", type=Path, default=RESULTS / "speed" / "bench_update.json")
    args = parser.parse_args()

    with threadpool_limits(1):
        dataset = load_dataset(args.dataset, data_root=args.data_root)
        catalog, inter = dataset.catalog, dataset.interactions
        t0 = time.perf_counter()
        vectors, model_id, fallback = make_vectors(item_texts(catalog), args.encoder, args.cache_dir)
        encode_s = time.perf_counter() - t0
        concepts = extract_concepts(catalog)
        graph = build_concept_graph(concepts, sequences=inter.sequences(), catalog=catalog)
        config = ProfileConfig(time_unit="seconds" if dataset.has_time else "positions")
        sentiment = ReviewSentiment()
        builder = ProfileBuilder(vectors, concepts, graph=graph, config=config, sentiment=sentiment)
        user_ids = [str(u) for u in inter.user_ids]

        t0, c0 = time.perf_counter(), time.process_time()
        histories = histories_from_interactions(inter, sentiment=sentiment)
        histories_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        profiles: list[InterestProfile] = builder.build_many(user_ids, histories)
        build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
        active = np.flatnonzero([len(h) > 0 for h in histories])
        lengths = np.array([len(histories[u]) for u in active])

        rng = np.random.default_rng(args.seed)
        update_s: list[float] = []
        update_cpu: list[float] = []
        rebuild_s: list[float] = []
        rebuild_cpu: list[float] = []
        by_kind: dict[str, list[float]] = {k: [] for k in EVENT_KINDS}
        same_count = same_labels = 0
        for _ in range(args.updates):
            u = int(rng.choice(active))
            profile = profiles[u]
            kind = str(rng.choice(EVENT_KINDS))
            event = Event(
                item=int(rng.integers(len(catalog))),
                kind=kind,
                timestamp=int(profile.history.timestamps[-1]) + int(rng.integers(1, 86_400)),
                value=float(rng.integers(1, 11)) / 2 if kind in ("rate", "review") else None,
                text=str(rng.choice(REVIEWS)) if kind == "review" else None,
            )
            t0, c0 = time.perf_counter(), time.process_time()
            updated = builder.update(profile, event)
            update_s.append(time.perf_counter() - t0)
            update_cpu.append(time.process_time() - c0)
            by_kind[kind].append(update_s[-1])
            profiles[u] = updated
            t0, c0 = time.perf_counter(), time.process_time()
            rebuilt = builder.build(profile.user_id, updated.history)
            rebuild_s.append(time.perf_counter() - t0)
            rebuild_cpu.append(time.process_time() - c0)
            same_count += len(rebuilt.interests) == len(updated.interests)
            same_labels += label_sets(rebuilt) == label_sets(updated)

        replay = replay_agreement(builder, user_ids, histories, args.replay)

    update_stats = stats_ms(update_s)
    rebuild_stats = stats_ms(rebuild_s)
    result: dict[str, Any] = {
        "benchmark": "profile_update",
        "dataset": dataset.name,
        "n_users": len(user_ids),
        "n_items": len(catalog),
        "n_interactions": len(inter),
        "history_length": {"median": float(np.median(lengths)), "max": int(lengths.max())},
        "encoder": model_id,
        "encoder_fallback_to_hashing": fallback,
        "n_concepts": concepts.n_concepts,
        "seconds": {"encode": round(encode_s, 2), "histories": round(histories_s, 3), "build_all": round(build_s, 2)},
        "build_ms_per_user": round(1000 * build_s / len(user_ids), 3),
        "build_cpu_ms_per_user": round(1000 * build_cpu / len(user_ids), 3),
        "update": {
            "n": len(update_s),
            **update_stats,
            "median_cpu_ms": round(float(np.median(update_cpu)) * 1000, 3),
            "median_ms_by_kind": {k: round(float(np.median(v)) * 1000, 3) for k, v in by_kind.items() if v},
        },
        "rebuild": {
            "n": len(rebuild_s), **rebuild_stats, "median_cpu_ms": round(float(np.median(rebuild_cpu)) * 1000, 3)
        },
        "speedup_median": round(rebuild_stats["median_ms"] / update_stats["median_ms"], 2),
        "speedup_median_cpu": round(float(np.median(rebuild_cpu)) / float(np.median(update_cpu)), 2),
        "speedup_mean": round(rebuild_stats["mean_ms"] / update_stats["mean_ms"], 2),
        "agreement_with_rebuild": {
            "same_interest_count": round(same_count / len(update_s), 3),
            "same_labels": round(same_labels / len(update_s), 3),
        },
        "replay": replay,
        "config": asdict(config),
        "threads": 1,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "hardware": hardware(),
        "versions": versions(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("update", "rebuild", "speedup_median", "speedup_median_cpu", "replay")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
