"""The ``interestlm`` command line: thin wrappers that parse, call one library function, print."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from interestlm.data.errors import DataError

#: Models the ``demo`` runs on the shipped sample (SASRec kept short so the demo takes minutes).
DEMO_MODELS = ("pop", "itemknn", "ease", "als", "sasrec")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", type=Path, default=None, help="folder holding the named datasets (../shared/data)")
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="malformed rows: stop with an error naming file, line and field (raise), or count and skip them",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="interestlm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    d = sub.add_parser("describe", help="print users, items, interactions, density and time span of a dataset")
    d.add_argument("dataset", help="dataset name (e.g. ml-latest-small, beauty, scientific) or path")
    _add_data_args(d)

    e = sub.add_parser("evaluate", help="full-ranking evaluation of one or more models")
    e.add_argument("--dataset", required=True, help="dataset name or path")
    e.add_argument("--model", nargs="+", required=True, help="pop itemknn ease als bpr sasrec")
    e.add_argument("--split", choices=("loo", "temporal"), default=None, help="default: loo")
    e.add_argument("--k", nargs="+", type=int, default=None, help="cut-offs (default: 5 10 20)")
    e.add_argument("--config", type=Path, default=None, help="TOML file: [evaluate] and [models.NAME] sections")
    e.add_argument("--seed", type=int, default=None)
    e.add_argument("--json", type=Path, default=None, help="write results JSON here")
    e.add_argument("--report", type=Path, default=None, help="write a Markdown report (with plots) here")
    e.add_argument("--no-slices", action="store_true", help="skip per-slice metrics (history length, cold start)")
    e.add_argument("--progress", action="store_true", help="progress bars while ranking")
    _add_data_args(e)

    m = sub.add_parser("demo", help="run the main job on the sample shipped in the package")
    m.add_argument("--output", type=Path, default=Path("demo-output"))
    m.add_argument("--model", nargs="+", default=list(DEMO_MODELS))
    return parser


def _load(name: str, args: argparse.Namespace) -> Any:
    from interestlm.data.registry import load_dataset

    dataset = load_dataset(name, data_root=args.data_root, on_error=args.on_error)
    if dataset.report.n_rejected:
        print(f"warning: {dataset.report.n_rejected} malformed rows skipped:", file=sys.stderr)
        print(dataset.report.summary(), file=sys.stderr)
    return dataset


def cmd_describe(args: argparse.Namespace) -> int:
    """``interestlm describe DATASET``."""
    from interestlm.data.describe import describe

    print(describe(_load(args.dataset, args)).format())
    return 0


def write_results(results: list[dict[str, Any]], path: Path) -> None:
    """One model: the result object; several: ``{"dataset", "split", "n_users", "runs": [...]}``."""
    payload: dict[str, Any]
    if len(results) == 1:
        payload = results[0]
    else:
        first = results[0]
        payload = {"dataset": first["dataset"], "split": first["split"], "n_users": first["n_users"], "runs": results}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``interestlm evaluate``: fit, rank the whole catalog, print, write JSON and report."""
    from interestlm.config import evaluation_config, load_config
    from interestlm.evaluate.report import print_table, write_report
    from interestlm.evaluate.runner import run_evaluation

    raw = load_config(args.config) if args.config else {}
    config = evaluation_config(
        raw,
        split=args.split,
        ks=tuple(args.k) if args.k else None,
        seed=args.seed,
        slices=False if args.no_slices else None,
        progress=True if args.progress else None,
    )
    dataset = _load(args.dataset, args)
    results = run_evaluation(dataset, args.model, config)
    print_table(results)
    if args.json:
        write_results(results, args.json)
        print(f"wrote {args.json}")
    if args.report:
        print(f"wrote {write_report(results, args.report)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``interestlm demo``: describe and evaluate baselines on the shipped MovieLens sample."""
    from interestlm.data.describe import describe
    from interestlm.data.registry import load_dataset
    from interestlm.evaluate.report import print_table, write_report
    from interestlm.evaluate.runner import EvaluationConfig, run_evaluation

    dataset = load_dataset("ml-latest-small-sample")
    print(describe(dataset).format())
    config = EvaluationConfig(split="loo", models={"sasrec": {"epochs": 20, "eval_every": 2, "patience": 3}})
    results = run_evaluation(dataset, args.model, config)
    print_table(results)
    args.output.mkdir(parents=True, exist_ok=True)
    write_results(results, args.output / "results.json")
    report = write_report(results, args.output / "report.md")
    print(f"wrote {args.output / 'results.json'} and {report}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``interestlm`` command."""
    args = build_parser().parse_args(argv)
    handlers = {"describe": cmd_describe, "evaluate": cmd_evaluate, "demo": cmd_demo}
    try:
        return handlers[args.command](args)
    except (DataError, ValueError, FileNotFoundError) as exc:
        print(f"interestlm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
