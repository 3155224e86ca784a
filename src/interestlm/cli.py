"""The ``interestlm`` command line: thin wrappers that parse, call one library function, print.

Why one file over 400 lines: one parser and one handler per subcommand, each a few lines; split, the
flags of a command would live apart from its handler.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from interestlm.core.errors import DataError, UnknownIdError

#: Models the ``demo`` runs on the shipped sample (SASRec kept short so the demo takes minutes).
DEMO_MODELS = ("interest", "pop", "itemknn", "ease", "als", "sasrec")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", type=Path, default=None, help="folder holding the named datasets (../shared/data)")
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="malformed rows: stop with an error naming file, line and field (raise), or count and skip them",
    )


def _add_lm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lm",
        choices=("local", "http", "template", "auto"),
        default=None,
        help="who writes summaries and explanations: the bundled local model, an OpenAI-compatible server, "
        "or templates (default: [lm] kind in --config, else template; auto = local when installed)",
    )
    p.add_argument("--lm-url", default=None, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--lm-model", default=None, help="model name sent to the server (--lm http)")
    p.add_argument("--lm-key-file", type=Path, default=None, help="file holding the server's API key")
    p.add_argument("--lm-timeout", type=float, default=None, help="seconds per HTTP request")
    p.add_argument("--lm-cache", type=Path, default=None, help="SQLite file caching generated text")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="interestlm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    d = sub.add_parser("describe", help="print users, items, interactions, density and time span of a dataset")
    d.add_argument("dataset", help="dataset name (e.g. ml-latest-small, beauty, scientific) or path")
    _add_data_args(d)

    e = sub.add_parser("evaluate", help="full-ranking evaluation of one or more models")
    e.add_argument("--dataset", required=True, help="dataset name or path")
    e.add_argument("--model", nargs="+", required=True, help="pop itemknn ease als bpr sasrec seqrec interest")
    e.add_argument("--split", choices=("loo", "temporal"), default=None, help="default: loo")
    e.add_argument("--k", nargs="+", type=int, default=None, help="cut-offs (default: 5 10 20)")
    e.add_argument("--config", type=Path, default=None, help="TOML file: [evaluate] and [models.NAME] sections")
    e.add_argument("--seed", type=int, default=None)
    e.add_argument("--json", type=Path, default=None, help="write results JSON here")
    e.add_argument("--report", type=Path, default=None, help="write a Markdown report (with plots) here")
    e.add_argument("--no-slices", action="store_true", help="skip per-slice metrics (history length, cold start)")
    e.add_argument("--progress", action="store_true", help="progress bars while ranking")
    _add_data_args(e)

    f = sub.add_parser("fit", help="fit the interest-profile recommender and save it as an artifacts directory")
    f.add_argument("--dataset", required=True, help="dataset name or path")
    f.add_argument("--out", type=Path, required=True, help="artifacts directory to write")
    f.add_argument("--config", type=Path, default=None, help="TOML file with a [recommender] table")
    f.add_argument("--progress", action="store_true", help="progress bars while encoding")
    f.add_argument(
        "--sequential",
        action="store_true",
        help="also train the text-aware sequence model (seqrec; settings in [recommender.seqrec]) as a fused signal",
    )
    _add_lm_args(f)
    _add_data_args(f)

    for name, text in (
        ("profile", "print a user's layered interest profile (JSON)"),
        ("recommend", "top-K recommendations for a user, with explanations"),
        ("explain", "why an item suits a user"),
    ):
        q = sub.add_parser(name, help=text)
        source = q.add_mutually_exclusive_group(required=True)
        source.add_argument("--artifacts", type=Path, help="a directory written by `interestlm fit`")
        source.add_argument("--dataset", help="dataset name or path (fits first)")
        q.add_argument("--user", default=None, help="user id")
        if name != "explain":
            q.add_argument("--text", default=None, help="a new user described in words instead of --user")
        q.add_argument("-k", "--k", type=int, default=10, help="list length")
        q.add_argument("--item", default=None, help="item id (explain)")
        q.add_argument("--diversity", type=float, default=None, help="MMR diversity in [0, 1] (recommend)")
        q.add_argument("--config", type=Path, default=None, help="TOML file with a [recommender] table (--dataset)")
        q.add_argument("--json", type=Path, default=None, help="write the JSON here too")
        q.add_argument(
            "--pin", action="append", default=[], metavar="CONCEPT",
            help="pin a concept for this run (any spelling: Sci-Fi, sci fi, SciFi; repeatable)",
        )
        q.add_argument("--mute", action="append", default=[], metavar="CONCEPT", help="mute a concept for this run")
        _add_lm_args(q)
        _add_data_args(q)

    m = sub.add_parser("demo", help="run the main job on the sample shipped in the package")
    m.add_argument("--output", type=Path, default=Path("demo-output"))
    m.add_argument("--model", nargs="+", default=list(DEMO_MODELS))

    v = sub.add_parser("serve", help="the HTTP service (FastAPI) over an artifacts directory")
    v.add_argument("artifacts_dir", type=Path, metavar="ARTIFACTS_DIR", help="a directory written by `interestlm fit`")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--api-keys", type=Path, default=None, help="file with one API key per line (Bearer tokens)")
    v.add_argument("--store", type=Path, default=None, help="SQLite event log (default: ARTIFACTS_DIR.store.sqlite3)")
    v.add_argument(
        "--store-url", default=None, help="postgresql://... : keep the event log in PostgreSQL instead of SQLite"
    )
    v.add_argument("--read-auth", action="store_true", help="require an API key for reads (now the default)")
    # --- issue 22 (access control): begin
    v.add_argument(
        "--public-reads",
        action="store_true",
        default=None,
        help="let anyone read any user's recommendations and profile, /metrics and /healthz counts",
    )
    # --- issue 22 (access control): end
    v.add_argument("--serve-config", type=Path, default=None, help="TOML file with a [serve] table")
    v.add_argument("--warm", action="store_true", default=None, help="compute every user's top-10 at start-up")
    v.add_argument("--cache-size", type=int, default=None, help="cached recommendation lists (0: no cache)")
    # --- issue 22 (store safety): begin
    v.add_argument(
        "--new-store",
        action="store_true",
        default=None,
        help="serve the store as it is even if its marker says it is missing, empty, foreign or truncated",
    )
    st = sub.add_parser("store", help="the service's SQLite event store: online backup and verification")
    st_sub = st.add_subparsers(dest="store_command", required=True)
    sb = st_sub.add_parser("backup", help="a consistent copy of a live store (SQLite online backup, WAL included)")
    sb.add_argument("dest", type=Path, metavar="DEST", help="the backup file to create (never overwritten)")
    sb.add_argument("--store", type=Path, required=True, help="the SQLite event store to copy")
    sv = st_sub.add_parser("verify", help="check a store: integrity, every row's fields, seq gaps, its marker")
    sv.add_argument("--store", type=Path, required=True, help="the SQLite event store to check")
    # --- issue 22 (store safety): end
    v.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    v.add_argument("--config", type=Path, default=None, help="TOML file with an [lm] table")
    v.add_argument("--lm-budget", type=float, default=1.0, help="seconds of LM time per request, then templates")
    _add_lm_args(v)
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
    from interestlm.config import load_config
    from interestlm.evaluate.report import print_table, write_report
    from interestlm.evaluate.runner import evaluation_config, run_evaluation

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


def _fit(
    dataset: Any, config_path: Path | None, *, progress: bool = False, generator: Any = None, sequential: bool = False
) -> Any:
    """Fit a Recommender; a ``generator`` (``fit --lm local|http``) also writes thin items' concepts;
    ``sequential`` also trains the sequence model."""
    from interestlm.config import load_config, recommender_config
    from interestlm.recommender import Recommender

    config = recommender_config(load_config(config_path) if config_path else {})
    if generator is not None:
        config = replace(config, concepts=replace(config.concepts, lm_thin_items=True))
    return Recommender(config, progress=progress or config.progress, sequential=sequential or config.sequential).fit(
        dataset, generator=generator
    )


def cmd_fit(args: argparse.Namespace) -> int:
    """``interestlm fit --dataset PATH --out DIR [--lm local|http]``: fit and save an inspectable artifacts
    directory; with a language model, items with few concepts get LM-chosen ones from the vocabulary."""
    dataset = _load(args.dataset, args)
    recommender = _fit(
        dataset, args.config, progress=args.progress, generator=_generator(args), sequential=args.sequential
    )
    recommender.save(args.out)
    print(recommender.fusion_.table())
    record = recommender.state_.lm_concepts
    if record is not None:
        print(
            f"LM concepts ({record['source']}): {record['enriched']} of {record['asked']} thin items asked "
            f"({record['thin_items']} with fewer than {record['min_concepts']} concepts) enriched with "
            f"{record['concepts_added']} concepts; {record['rejected']} replies rejected, {record['errors']} failed"
        )
    print(f"wrote {args.out}")
    return 0


def _recommender(args: argparse.Namespace) -> Any:
    from interestlm.recommender import Recommender

    if args.artifacts is not None:
        return Recommender.load(args.artifacts)
    return _fit(_load(args.dataset, args), args.config)


def _emit(payload: dict[str, Any], path: Path | None) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False))
    if path is not None:
        _write_json(payload, path)


def _generator(args: argparse.Namespace, *, always: bool = False) -> Any:
    """The Generator ``--lm`` / ``[lm]`` asks for; None for templates unless ``always``."""
    from interestlm.config import load_config
    from interestlm.lm import Generator, LMCache, lm_config, make_lm

    raw = load_config(args.config) if args.config else {}
    config = lm_config(
        raw,
        # The command line writes templates unless asked: a model is opt-in here.
        kind=args.lm or raw.get("lm", {}).get("kind") or "template",
        base_url=args.lm_url,
        model=args.lm_model,
        api_key_file=args.lm_key_file,
        timeout=args.lm_timeout,
    )
    if config.kind == "template" and not always:
        return None
    return Generator(make_lm(config), cache=LMCache(args.lm_cache))


def _text_strategy(rec: Any, args: argparse.Namespace) -> Any:
    """``rec`` with an LMWriter as its text strategy when ``--lm`` / ``[lm]`` asks for a model."""
    from interestlm.lm_writer import LMWriter

    generator = _generator(args)
    return rec.with_text(LMWriter(generator)) if generator is not None else rec


def _edited(rec: Any, args: argparse.Namespace) -> Any:
    """``rec`` with ``--pin`` / ``--mute`` applied to ``--user``'s profile (or to the text-built one)."""
    if (args.pin or args.mute) and args.user is not None:
        rec.edit(args.user, pin=args.pin, mute=args.mute)
    return rec


def _text_profile(rec: Any, args: argparse.Namespace) -> Any:
    profile = rec.profile_from_text(args.text)
    if args.pin or args.mute:
        profile = rec.state_.builder.edit(profile, pin=args.pin, mute=args.mute)
    return profile


def _user_or_text(args: argparse.Namespace) -> None:
    if (args.user is None) == (getattr(args, "text", None) is None):
        raise ValueError(
            f"{args.command} needs exactly one of --user ID or --text DESCRIPTION"
            if args.command != "explain"
            else "explain needs --user ID"
        )


def cmd_profile(args: argparse.Namespace) -> int:
    """``interestlm profile``: the user's profile JSON (summary by ``--lm``); ``--text``: a new user's."""
    _user_or_text(args)
    rec = _edited(_text_strategy(_recommender(args), args), args)
    if args.text is not None:
        profile = _text_profile(rec, args)
        payload = rec.readable_profile(profile)
        payload["taste"] = profile.extra["taste"]
        _emit(payload, args.json)
    else:
        _emit(rec.profile_json(args.user), args.json)
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    """``interestlm recommend``: ``{"user_id", "recommendations": [{"item_id", "score", "explanation"}]}``."""
    from interestlm.render import recommendations_json

    _user_or_text(args)
    rec = _edited(_text_strategy(_recommender(args), args), args)
    if args.text is not None:
        profile = _text_profile(rec, args)
        payload = recommendations_json(None, rec.recommend(profile, args.k, diversity=args.diversity), rec.catalog)
        _emit({"user_id": None, "taste": profile.extra["taste"], **payload}, args.json)
    else:
        _emit(rec.recommendations_json(args.user, args.k, diversity=args.diversity), args.json)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """``interestlm explain --item ID``: the grounded explanation as JSON (sentence by ``--lm``)."""
    if args.item is None:
        raise ValueError("explain needs --item ID")
    _user_or_text(args)
    rec = _edited(_text_strategy(_recommender(args), args), args)
    _emit(rec.explanation_json(args.user, args.item), args.json)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``interestlm demo``: the whole flow on the shipped MovieLens sample.

    Fit the interest-profile recommender, print one user's profile and top-10 with explanations,
    save the artifacts, then evaluate it beside the baselines (full ranking, leave-one-out).
    """
    from interestlm.data.describe import describe
    from interestlm.data.registry import load_dataset
    from interestlm.evaluate.report import print_table, write_report
    from interestlm.evaluate.runner import EvaluationConfig, run_evaluation
    from interestlm.recommender import Recommender

    dataset = load_dataset("ml-latest-small-sample")
    print(describe(dataset).format())
    args.output.mkdir(parents=True, exist_ok=True)
    recommender = Recommender().fit(dataset)
    print("\nLearned signal weights:\n" + recommender.fusion_.table())
    user = str(dataset.interactions.user_ids[0])
    profile = recommender.profile_json(user)
    recs = recommender.recommendations_json(user, 10)
    print(f"\nProfile of user {user}:")
    print(json.dumps(profile, indent=2, ensure_ascii=False)[:4000])
    print(f"\nTop-10 for user {user}:")
    for rank, r in enumerate(recs["recommendations"], start=1):
        print(f"{rank:2d}. {r['title']}  ({r['score']:.3f})\n    {r['explanation']}")
    _write_json({"profile": profile, **recs}, args.output / "user.json")
    recommender.save(args.output / "artifacts")
    config = EvaluationConfig(split="loo", models={"sasrec": {"epochs": 20, "eval_every": 2, "patience": 3}})
    results = run_evaluation(dataset, args.model, config)
    print_table(results)
    write_results(results, args.output / "results.json")
    report = write_report(results, args.output / "report.md")
    out = args.output
    print(f"wrote {out / 'user.json'}, {out / 'artifacts'}, {out / 'results.json'} and {report}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``interestlm serve ARTIFACTS_DIR --host 127.0.0.1 --port 8000 [--api-keys FILE]``."""
    import logging

    import uvicorn

    from interestlm.serve import ServeSettings, create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ServeSettings.load(
        args.serve_config,
        api_keys_file=args.api_keys,
        store_path=args.store,
        store_url=args.store_url,
        read_auth=args.read_auth or None,
        warm=args.warm,
        cache_size=args.cache_size,
        new_store=args.new_store,  # issue 22
        public_reads=args.public_reads,  # issue 22
    )
    generator = _generator(args)
    app = create_app(args.artifacts_dir, settings=settings, lm=generator, lm_budget=args.lm_budget)
    # uvicorn's access log would print raw paths (user and item ids): the app logs route templates instead.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level=args.log_level)
    return 0


# --- issue 22 (store safety): begin
def cmd_store(args: argparse.Namespace) -> int:
    """``interestlm store backup DEST --store PATH`` / ``interestlm store verify --store PATH``."""
    from interestlm.serve.safety import backup_sqlite, verify_sqlite

    if args.store_command == "backup":
        done = backup_sqlite(args.store, args.dest)
        print(f"backed up {done['rows']} log rows (last seq {done['last_seq']}) of {args.store} to {args.dest}")
        return 0
    report = verify_sqlite(args.store)
    print(f"{report.path}: {report.rows} log rows, last seq {report.last_seq}, store id {report.store_id}")
    for problem in report.problems:
        print(f"  problem: {problem}")
    print("ok" if report.ok else f"{len(report.problems)} problem(s)")
    return 0 if report.ok else 1


# --- issue 22 (store safety): end


def _write_json(payload: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``interestlm`` command."""
    args = build_parser().parse_args(argv)
    handlers = {
        "describe": cmd_describe,
        "evaluate": cmd_evaluate,
        "fit": cmd_fit,
        "profile": cmd_profile,
        "recommend": cmd_recommend,
        "explain": cmd_explain,
        "demo": cmd_demo,
        "serve": cmd_serve,
        "store": cmd_store,  # issue 22
    }
    try:
        return handlers[args.command](args)
    except UnknownIdError as exc:
        print(f"interestlm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (DataError, ValueError, FileNotFoundError) as exc:
        print(f"interestlm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
