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

#: Models the ``demo`` evaluates on the shipped sample. Not SASRec: an ID-only transformer cannot
#: learn from 250 users in a demo's budget (20 epochs tied most-popular, NDCG@10 0.0157 vs 0.0158,
#: in 271 s); it is compared on the full datasets in the README's results instead.
DEMO_MODELS = ("interest", "pop", "itemknn", "ease", "als")
#: Per-model settings of the demo's evaluation (``--model sasrec`` may be added by hand).
DEMO_MODEL_SETTINGS: dict[str, dict[str, Any]] = {"sasrec": {"epochs": 20, "eval_every": 2, "patience": 3}}
#: The rating task's splits (kept literal here so the parser imports nothing heavy).
RATING_SPLIT_NAMES = ("u1", "u2", "u3", "u4", "u5", "ua", "ub", "random", "cold-items")

#: ``--json`` given without a path: print the JSON on stdout instead of the readable text.
STDOUT = "-"


# -- argument types: every number is checked before anything is loaded ------------------------------


def _int_at_least(low: int, what: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{what} must be >= {low}, got {value}")
        return value

    return parse


def _float_in(low: float, high: float | None, what: str, *, open_low: bool = False) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        too_low = value <= low if open_low else value < low
        if value != value or too_low or (high is not None and value > high):
            bound = f"in [{low}, {high}]" if high is not None else (f"> {low}" if open_low else f">= {low}")
            raise argparse.ArgumentTypeError(f"{what} must be {bound}, got {text}")
        return value

    return parse


def _port(text: str) -> int:
    value: int = _int_at_least(1, "--port")(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"--port must be in 1..65535, got {value}")
    return value


def _artifacts_dir(text: str) -> Path:
    path = Path(text)
    if not (path / "manifest.json").is_file():
        what = "does not exist" if not path.exists() else "has no manifest.json"
        raise argparse.ArgumentTypeError(f"{text} {what}: pass a directory written by `interestlm fit --out`")
    return path


def _quiet_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines or bars (warnings and errors only)")
    return p


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-root", type=Path, default=None,
        help="folder holding the named datasets (default: $INTERESTLM_DATA, else ../shared/data beside the checkout)",
    )
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="malformed rows: stop with an error naming file, line and field (raise), or count and skip them",
    )
    table = p.add_argument_group(
        "your own table (a CSV/TSV/Parquet path; columns are guessed from common names unless given)"
    )
    for field, example in (("user", "userId"), ("item", "movieId"), ("time", "timestamp"), ("rating", "rating")):
        table.add_argument(
            f"--{field}-col", default=None, metavar="COLUMN", help=f"the {field} column (e.g. {example})"
        )
    table.add_argument(
        "--items", type=Path, default=None, metavar="PATH",
        help="item table: the item id column plus text columns (title, description, genres/categories, tags, brand)",
    )
    p.add_argument(
        "--images", type=Path, default=None, metavar="DIR",
        help="a folder of item pictures named <item_id>.jpg|jpeg|png|webp (unreadable files are named and counted)",
    )


def _columns(args: argparse.Namespace) -> dict[str, str]:
    """The ``--*-col`` flags given, as a ``columns`` mapping for :func:`interestlm.data.load_dataset`."""
    return {f: v for f in ("user", "item", "time", "rating") if (v := getattr(args, f"{f}_col", None)) is not None}


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
    p.add_argument(
        "--lm-timeout", type=_float_in(0.0, None, "--lm-timeout", open_low=True), default=None,
        help="seconds per HTTP request",
    )
    p.add_argument("--lm-cache", type=Path, default=None, help="SQLite file caching generated text")


def _add_engine_args(p: argparse.ArgumentParser, what: str) -> None:
    """``--engine local|ray``, ``--ray-address``, ``--workers`` (as ``recommend --all-users`` has them)."""
    g = p.add_argument_group(f"engine ({what})")
    g.add_argument("--engine", choices=("local", "ray"), default="local", help="where the parallel stages run")
    g.add_argument("--ray-address", default=None, help="a Ray cluster (default: a local Ray instance)")
    g.add_argument("--workers", type=_int_at_least(1, "--workers"), default=2, help="Ray workers (one CPU each)")


def _engine(args: argparse.Namespace) -> Any:
    """A context manager giving the engine ``--engine`` asks for (Ray is stopped on exit)."""
    from contextlib import nullcontext

    from interestlm.engine import RayEngine
    from interestlm.parallel import LOCAL

    if args.engine == "ray":
        return RayEngine(address=args.ray_address, workers=args.workers)
    return nullcontext(LOCAL)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand (each lists only the options it uses)."""
    parser = argparse.ArgumentParser(prog="interestlm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    common = [_quiet_parent()]

    d = sub.add_parser(
        "describe", parents=common, help="print users, items, interactions, density and time span of a dataset"
    )
    d.add_argument("dataset", help="dataset name (e.g. ml-latest-small, beauty, scientific) or path")
    _add_data_args(d)

    e = sub.add_parser("evaluate", parents=common, help="full-ranking evaluation of one or more models")
    e.add_argument("--dataset", required=True, help="dataset name or path")
    e.add_argument("--model", nargs="+", required=True, help="pop itemknn ease als bpr sasrec seqrec interest")
    e.add_argument(
        "--split", choices=("loo", "temporal", *RATING_SPLIT_NAMES), default=None,
        help="ranking: loo (default) or temporal; rating: u1..u5, ua, ub (ml-100k's official folds; "
        "default there u1), random (80/20; default elsewhere) or cold-items",
    )
    # -- rating task (issue 26)
    e.add_argument(
        "--task", choices=("ranking", "rating"), default="ranking",
        help="ranking (full-catalogue top-K) or rating (RMSE/MAE of held-out ratings; models: "
        "global-mean baseline svd svdpp knn-baseline fused interest)",
    )
    # -- end rating task
    e.add_argument("--k", nargs="+", type=_int_at_least(1, "--k"), default=None, help="cut-offs (default: 5 10 20)")
    e.add_argument("--config", type=Path, default=None, help="TOML file: [evaluate] and [models.NAME] sections")
    e.add_argument("--seed", type=_int_at_least(0, "--seed"), default=None)
    e.add_argument("--json", type=Path, default=None, help="write results JSON here")
    e.add_argument("--report", type=Path, default=None, help="write a Markdown report (with plots) here")
    e.add_argument("--no-slices", action="store_true", help="skip per-slice metrics (history length, cold start)")
    e.add_argument("--progress", action="store_true", help="progress bars (default on a terminal)")
    _add_engine_args(e, "users ranked in shards; sequence models trained with Ray Train")
    _add_data_args(e)

    f = sub.add_parser(
        "fit", parents=common, help="fit the interest-profile recommender and save it as an artifacts directory"
    )
    f.add_argument("--dataset", required=True, help="dataset name or path")
    f.add_argument("--out", type=Path, required=True, help="artifacts directory to write")
    f.add_argument("--config", type=Path, default=None, help="TOML file with a [recommender] table")
    f.add_argument("--progress", action="store_true", help="progress bars (default on a terminal)")
    f.add_argument(
        "--sequential",
        action="store_true",
        help="also train the text-aware sequence model (seqrec; settings in [recommender.seqrec]) as a fused signal",
    )
    _add_lm_args(f)
    _add_engine_args(f, "texts and pictures encoded, profiles built; --sequential trained with Ray Train")
    _add_data_args(f)

    for name, text in (
        ("profile", "print a user's layered interest profile (JSON)"),
        ("recommend", "top-K recommendations for a user, with explanations (a readable list; --json for JSON)"),
        ("explain", "why an item suits a user (JSON)"),
    ):
        q = sub.add_parser(name, parents=common, help=text)
        source = q.add_mutually_exclusive_group(required=True)
        source.add_argument("--artifacts", type=_artifacts_dir, help="a directory written by `interestlm fit`")
        source.add_argument("--dataset", help="dataset name or path (fits first)")
        q.add_argument("--user", default=None, required=name == "explain", help="user id")
        if name != "explain":
            q.add_argument("--text", default=None, help="a new user described in words instead of --user")
        if name == "recommend":
            q.add_argument("-k", "--k", type=_int_at_least(1, "-k/--k"), default=10, help="list length (>= 1)")
            q.add_argument(
                "--diversity", type=_float_in(0.0, 1.0, "--diversity"), default=None, help="MMR diversity in [0, 1]"
            )
        if name == "recommend":
            every = q.add_argument_group("every user at once (one row per user and rank, to Parquet)")
            every.add_argument("--all-users", action="store_true", help="rank every known user; needs --out")
            every.add_argument("--out", type=Path, default=None, metavar="PATH", help="Parquet file to write")
            every.add_argument("--engine", choices=("local", "ray"), default="local", help="where to rank them")
            every.add_argument("--ray-address", default=None, help="a Ray cluster (default: a local Ray instance)")
            every.add_argument(
                "--workers", type=_int_at_least(1, "--workers"), default=2,
                help="Ray workers (each loads the artifacts)",
            )
        if name == "explain":
            q.add_argument("--item", required=True, help="item id")
        q.add_argument("--config", type=Path, default=None, help="TOML file with a [recommender] table (--dataset)")
        q.add_argument(
            "--json", nargs="?", const=STDOUT, default=None, metavar="PATH",
            help="write the JSON to PATH too; without PATH, print JSON"
            + (" instead of the list" if name == "recommend" else ""),
        )
        q.add_argument(
            "--pin", action="append", default=[], metavar="CONCEPT",
            help="pin a concept for this run (any spelling: Sci-Fi, sci fi, SciFi; repeatable)",
        )
        q.add_argument("--mute", action="append", default=[], metavar="CONCEPT", help="mute a concept for this run")
        _add_lm_args(q)
        _add_data_args(q)

    m = sub.add_parser("demo", parents=common, help="run the main job on the sample shipped in the package")
    m.add_argument("--output", type=Path, default=Path("demo-output"))
    m.add_argument("--model", nargs="+", default=list(DEMO_MODELS))

    v = sub.add_parser("serve", parents=common, help="the HTTP service (FastAPI) over an artifacts directory")
    v.add_argument(
        "artifacts_dir", type=_artifacts_dir, metavar="ARTIFACTS_DIR", help="a directory written by `interestlm fit`"
    )
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=_port, default=8000)
    v.add_argument("--api-keys", type=Path, default=None, help="file with one API key per line (Bearer tokens)")
    v.add_argument("--store", type=Path, default=None, help="SQLite event log (default: ARTIFACTS_DIR.store.sqlite3)")
    v.add_argument(
        "--store-url", default=None, help="postgresql://... : keep the event log in PostgreSQL instead of SQLite"
    )
    v.add_argument(
        "--follow-interval", type=_float_in(0.0, 3600.0, "--follow-interval"), default=None,
        help="with --store-url: apply other replicas' writes, woken by NOTIFY and at least every this many "
        "seconds (default 1; 0: this is the only replica)",
    )
    v.add_argument(
        "--follow-notify", action=argparse.BooleanOptionalAction, default=None,
        help="wake on the log's NOTIFY (default); --no-follow-notify polls only",
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
    v.add_argument(
        "--cache-size", type=_int_at_least(0, "--cache-size"), default=None,
        help="cached recommendation lists (0: no cache)",
    )
    v.add_argument(
        "--compute-workers", type=_int_at_least(1, "--compute-workers"), default=None,
        help="recommendation lists computed at once (default 1)",
    )
    v.add_argument(
        "--blas-threads", type=_int_at_least(0, "--blas-threads"), default=None,
        help="BLAS threads while serving (default 1: one core per list; 0: the library's default)",
    )
    v.add_argument(
        "--refresh-lists", type=_int_at_least(0, "--refresh-lists"), default=None,
        help="cached lists recomputed before an item upload is swapped in (default 256, most recently used)",
    )
    # --- issue 22 (store safety): begin
    v.add_argument(
        "--new-store",
        action="store_true",
        default=None,
        help="serve the store as it is even if its marker says it is missing, empty, foreign or truncated",
    )
    st = sub.add_parser("store", help="the service's SQLite event store: online backup and verification")
    st_sub = st.add_subparsers(dest="store_command", required=True)
    sb = st_sub.add_parser(
        "backup", parents=common, help="a consistent copy of a live store (SQLite online backup, WAL included)"
    )
    sb.add_argument("dest", type=Path, metavar="DEST", help="the backup file to create (never overwritten)")
    sb.add_argument("--store", type=Path, required=True, help="the SQLite event store to copy")
    sv = st_sub.add_parser(
        "verify", parents=common, help="check a store: integrity, every row's fields, seq gaps, its marker"
    )
    sv.add_argument("--store", type=Path, required=True, help="the SQLite event store to check")
    # --- issue 22 (store safety): end
    v.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    v.add_argument("--config", type=Path, default=None, help="TOML file with an [lm] table")
    v.add_argument(
        "--lm-budget", type=_float_in(0.0, None, "--lm-budget"), default=1.0,
        help="seconds of LM time per request, then templates",
    )
    _add_lm_args(v)
    return parser


def _load(name: str, args: argparse.Namespace) -> Any:
    from interestlm.data.registry import load_dataset

    dataset = load_dataset(
        name, data_root=args.data_root, on_error=args.on_error, columns=_columns(args) or None,
        items=getattr(args, "items", None),
    )
    if dataset.report.columns:
        used = ", ".join(f"{k}={v}" for k, v in dataset.report.columns.items())
        print(f"reading columns: {used}", file=sys.stderr)
    if dataset.report.n_rejected:
        print(f"warning: {dataset.report.n_rejected} malformed rows skipped:", file=sys.stderr)
        print(dataset.report.summary(), file=sys.stderr)
    images = getattr(args, "images", None)
    if images is not None:
        from interestlm.data.images import attach_images

        dataset, found = attach_images(dataset, images)
        for path, why in found.unreadable[:20]:
            print(f"warning: {path}: {why}; its item has no picture", file=sys.stderr)
        if found.unreadable:
            print(f"warning: {len(found.unreadable):,} unreadable item pictures", file=sys.stderr)
    return dataset


def cmd_describe(args: argparse.Namespace) -> int:
    """``interestlm describe DATASET``."""
    from interestlm.data.describe import describe

    print(describe(_load(args.dataset, args)).format())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``interestlm evaluate``: fit, rank the whole catalog, print, write JSON and report."""
    if args.task == "rating":
        if args.engine != "local":
            raise ValueError("--engine ray ranks users and trains sequence models; the rating task runs locally")
        return _evaluate_rating(args)
    if args.split in RATING_SPLIT_NAMES:
        raise ValueError(f"--split {args.split} is a rating split: add --task rating, or use loo / temporal")
    from interestlm.config import load_config
    from interestlm.evaluate.report import print_table, write_report, write_results
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
    with _engine(args) as engine:
        results = run_evaluation(dataset, args.model, config, engine)
    print_table(results)
    if args.json:
        write_results(results, args.json)
        print(f"wrote {args.json}")
    if args.report:
        print(f"wrote {write_report(results, args.report)}")
    return 0


# -- rating task (issue 26)
def _evaluate_rating(args: argparse.Namespace) -> int:
    """``interestlm evaluate --task rating``: RMSE and MAE of each model on held-out ratings."""
    from interestlm.evaluate.rating import evaluate_rating, rating_models

    dataset = _load(args.dataset, args)
    split = args.split or ("u1" if dataset.name == "ml-100k" else "random")
    if split in ("loo", "temporal"):
        raise ValueError(f"--split {split} is a ranking split; the rating task takes {', '.join(RATING_SPLIT_NAMES)}")
    seed = args.seed if args.seed is not None else 0
    known = rating_models(seed)
    unknown = [m for m in args.model if m not in known]
    if unknown:
        raise ValueError(f"unknown rating model(s) {unknown}; choose from {', '.join(known)}")
    results = evaluate_rating(
        dataset, split, models={m: known[m] for m in args.model}, seed=seed, data_root=args.data_root,
        reuse_stack=True,
    )
    print(f"{'model':<14} {'RMSE':>7} {'MAE':>7}  ({dataset.name}, split {split}, {results[0]['n_test']} test ratings)")
    for r in results:
        print(f"{r['model']:<14} {r['metrics']['rmse']:>7.4f} {r['metrics']['mae']:>7.4f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = results[0] if len(results) == 1 else {"dataset": dataset.name, "split": split, "runs": results}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


# -- end rating task


def _fit(
    dataset: Any,
    config_path: Path | None,
    *,
    progress: bool = False,
    generator: Any = None,
    sequential: bool = False,
    engine: Any = None,
) -> Any:
    """Fit a Recommender; a ``generator`` (``fit --lm local|http``) also writes thin items' concepts;
    ``sequential`` also trains the sequence model; ``engine`` runs the parallel stages."""
    from interestlm.config import load_config, recommender_config
    from interestlm.parallel import LOCAL
    from interestlm.recommender import Recommender

    config = recommender_config(load_config(config_path) if config_path else {})
    if generator is not None:
        config = replace(config, concepts=replace(config.concepts, lm_thin_items=True))
    return Recommender(config, progress=progress or config.progress, sequential=sequential or config.sequential).fit(
        dataset, generator=generator, engine=engine or LOCAL
    )


def cmd_fit(args: argparse.Namespace) -> int:
    """``interestlm fit --dataset PATH --out DIR [--lm local|http]``: fit and save an inspectable artifacts
    directory; with a language model, items with few concepts get LM-chosen ones from the vocabulary."""
    dataset = _load(args.dataset, args)
    with _engine(args) as engine:
        recommender = _fit(
            dataset, args.config, progress=args.progress, generator=_generator(args), sequential=args.sequential,
            engine=engine,
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


def _emit(payload: dict[str, Any], path: str | None, text: str | None = None) -> None:
    """Print ``text`` (or the JSON when there is no text or ``--json`` came without a path); write
    the JSON to ``--json PATH``."""
    if text is None or path == STDOUT:
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(text)
    if path is not None and path != STDOUT:
        _write_json(payload, Path(path))


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
    from interestlm.render import recommendations_json, recommendations_text

    if args.all_users:
        return _recommend_all(args)
    if args.out is not None:
        raise ValueError("--out goes with --all-users (one user's list: --json PATH)")
    _user_or_text(args)
    rec = _edited(_text_strategy(_recommender(args), args), args)
    if args.text is not None:
        profile = _text_profile(rec, args)
        payload = recommendations_json(None, rec.recommend(profile, args.k, diversity=args.diversity), rec.catalog)
        payload = {"user_id": None, "taste": profile.extra["taste"], **payload}
    else:
        payload = rec.recommendations_json(args.user, args.k, diversity=args.diversity)
    _emit(payload, args.json, recommendations_text(payload))
    return 0


def _recommend_all(args: argparse.Namespace) -> int:
    """``recommend --all-users --out recs.parquet [--engine ray]``: every user's top-k as rows."""
    import tempfile

    from interestlm.engine import recommend_all_local, recommend_all_ray, write_parquet

    if args.out is None:
        raise ValueError("--all-users needs --out PATH (a Parquet file)")
    if args.user is not None or args.text is not None or args.pin or args.mute:
        raise ValueError("--all-users ranks every user as fitted: drop --user, --text, --pin and --mute")
    rec = _recommender(args)
    if args.engine == "local":
        table = recommend_all_local(rec, args.k)
    else:
        user_ids = list(rec.state_.user_ids)
        with tempfile.TemporaryDirectory(prefix="interestlm-") as tmp:
            # Workers load saved artifacts; a recommender fitted here is saved for them first.
            artifacts = args.artifacts or rec.save(Path(tmp) / "artifacts")
            table = recommend_all_ray(artifacts, user_ids, args.k, address=args.ray_address, workers=args.workers)
    out = write_parquet(table, args.out)
    print(f"wrote {out}: {table.num_rows:,} rows ({len(set(table.column('user_id').to_pylist())):,} users)")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """``interestlm explain --item ID``: the grounded explanation as JSON (sentence by ``--lm``)."""
    rec = _edited(_text_strategy(_recommender(args), args), args)
    _emit(rec.explanation_json(args.user, args.item), args.json)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``interestlm demo``: the product's story on the shipped MovieLens sample (see
    :mod:`interestlm.demo`): data, profile, top-10 with explanations, a live like and a mute,
    save and load, evaluation beside the baselines."""
    from interestlm.demo import run_demo

    written = run_demo(args.output, args.model, DEMO_MODEL_SETTINGS)
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``interestlm serve ARTIFACTS_DIR --host 127.0.0.1 --port 8000 [--api-keys FILE]``."""
    import logging

    import uvicorn

    from interestlm.serve import ServeSettings, create_app

    _port_free(args.host, args.port)  # before the artifacts load: a taken port fails in milliseconds
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ServeSettings.load(
        args.serve_config,
        api_keys_file=args.api_keys,
        store_path=args.store,
        store_url=args.store_url,
        read_auth=args.read_auth or None,
        warm=args.warm,
        cache_size=args.cache_size,
        refresh_lists=args.refresh_lists,
        compute_workers=args.compute_workers,
        blas_threads=args.blas_threads,
        follow_interval=args.follow_interval,
        follow_notify=args.follow_notify,
        new_store=args.new_store,  # issue 22
        public_reads=args.public_reads,  # issue 22
    )
    generator = _generator(args)
    app = create_app(args.artifacts_dir, settings=settings, lm=generator, lm_budget=args.lm_budget)
    # uvicorn's access log would print raw paths (user and item ids): the app logs route templates instead.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level=args.log_level)
    return 0


def _port_free(host: str, port: int) -> None:
    """Raise a clear error when ``host:port`` cannot be bound (taken, or not an address of this machine)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"--host {host!r} cannot be resolved: {exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ValueError(f"cannot listen on {host}:{port}: {reason} (is another server running?)") from None


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
    from interestlm.core.progress import log_to_stderr

    log_to_stderr(quiet=getattr(args, "quiet", False))
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
