"""Run every baseline on the benchmark datasets (LOO, full ranking) and write results JSON.

Usage: python benchmarks/run_baselines.py [--datasets ...] [--models ...] [--force]

A model name may also be a variant from config.toml (``[variants.NAME]``, with ``of = "MODEL"``
or ``of = "VARIANT"`` and settings laid over that one's): ablations are run and stored like any
other model.

Each (dataset, model) pair writes ``benchmarks/results/<dataset>__<model>.json`` in the shape of
``interestlm evaluate --json`` (hardware, versions and the device of each number included), so
pairs can be run separately and re-run; ``benchmarks/make_table.py`` turns the files into the
README table. ``--seed N`` with N other than 0 writes ``results/seeds/<dataset>__<model>__seed<N>.json``
instead (the README table stays seed 0; ``benchmarks/seed_summary.py`` puts the seeds side by side).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import EvaluationConfig, evaluate_model, make_split

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATASETS = ("ml-latest-small", "scientific", "musical-instruments", "beauty", "toys")
MODELS = ("pop", "itemknn", "ease", "als", "bpr", "sasrec", "seqrec", "bsarec", "interest")


def model_settings(settings: dict[str, Any], dataset: str) -> dict[str, dict[str, Any]]:
    """Per-model parameters for ``dataset``: the global [models.X] tables, then dataset overrides."""
    merged: dict[str, dict[str, Any]] = {m: dict(v) for m, v in settings.get("models", {}).items()}
    for model, params in settings.get("datasets", {}).get(dataset, {}).get("models", {}).items():
        merged.setdefault(model, {}).update(params)
    return merged


def resolve(name: str, settings: dict[str, Any], merged: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The registered model behind ``name`` and its parameters (a variant's laid over its model's).

    ``of`` may name another variant: its parameters are laid under this one's.
    """
    variants = settings.get("variants", {})
    chain: list[str] = []
    params: dict[str, Any] = {}
    while name in variants:
        if name in chain:
            raise ValueError(f"[variants.{name}]: `of` goes round in a circle ({' -> '.join([*chain, name])})")
        chain.append(name)
        variant = dict(variants[name])
        base = variant.pop("of", None)
        if not isinstance(base, str):
            raise ValueError(f'[variants.{name}] needs of = "MODEL" naming the model (or variant) it varies')
        params = {**variant, **params}
        name = base
    return name, {**merged.get(name, {}), **params}


def result_path(folder: Path, dataset: str, model: str, seed: int) -> Path:
    """Where one (dataset, model, seed) result is written: seed 0 keeps the unsuffixed name."""
    suffix = "" if seed == 0 else f"__seed{seed}"
    return folder / f"{dataset}__{model}{suffix}.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=HERE / "config.toml")
    parser.add_argument("--split", choices=("loo", "temporal"), default="loo", help="temporal: results/temporal/")
    parser.add_argument("--force", action="store_true", help="re-run pairs whose result file exists")
    parser.add_argument("--no-slices", action="store_true", help="skip per-slice metrics (halves the ranking time)")
    args = parser.parse_args()
    results = RESULTS if args.split == "loo" else RESULTS / args.split
    if args.seed != 0:
        results = results / "seeds"
    results.mkdir(parents=True, exist_ok=True)
    settings = tomllib.loads(args.config.read_text(encoding="utf-8"))
    for name in args.datasets:
        config = EvaluationConfig(
            split=args.split,
            ks=(5, 10, 20),
            seed=args.seed,
            models=model_settings(settings, name),
            progress=False,
            slices=not args.no_slices,
        )
        todo = [m for m in args.models if args.force or not result_path(results, name, m, args.seed).exists()]
        if not todo:
            continue
        t0 = time.perf_counter()
        dataset = load_dataset(name, data_root=args.data_root)
        split = make_split(dataset, args.split)
        print(f"{name}: loaded and split in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        for model in todo:
            base, params = resolve(model, settings, config.models)
            run_config = replace(config, models={**config.models, base: params})
            result = evaluate_model(dataset, split, base, run_config)
            if base != model:
                result["model"], result["variant_of"] = model, base
            out = result_path(results, name, model, args.seed)
            out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            m = result["metrics"]
            print(
                f"{name:22s} {model:8s} recall@10={m['recall@10']:.4f} ndcg@10={m['ndcg@10']:.4f} "
                f"fit={result['seconds']['fit']:.1f}s eval={result['seconds']['evaluate']:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
