"""Scale benchmark: every pipeline stage at 1x, 10x, 100x ml-latest-small, on planted data.

Each size runs in a fresh subprocess (so peak memory is that size's own) on
:func:`interestlm.testing.synthetic.synthetic` data: users with one to three topics, items whose
text comes from the topics' vocabularies, Zipf popularity inside a topic, and each user's
held-out next item drawn from their topics. Per stage it records wall seconds and the peak
resident memory of this process and of its process tree (Ray's workers included), sampled every
50 ms: the data generation, every step of ``Recommender.fit`` (encoding, concepts, concept graph,
interest space, signals, profiles and fusion weights, rating model; read off the pipeline's own
``step`` lines, so the split follows the code), every user's profile, batch recommendation
(top-10 of every user) on the local engine and on Ray (``interestlm.engine``; the artifacts are
saved first, each Ray worker loads them and builds its users' profiles), and the evaluation:
planted Recall@10 of the lists against the held-out next items, beside the oracle (the true
next-item probabilities) and plain popularity, so speed is never bought with accuracy.

The text encoder is the hashing encoder at every size (MiniLM encodes ~100-200 texts/s on these
2 cores: hours for 1M items); the run at ``--minilm-sample`` items measures MiniLM's throughput on
the same texts, and the summary extrapolates MiniLM's encoding time to every size.

Usage:
    python benchmarks/bench_scale.py run --scales 1 10 [--engines local ray] [--timeout 3600]
    python benchmarks/bench_scale.py summarise     # merge bench_scale_<S>x.json, plot, README table

``run`` writes ``benchmarks/results/scale/bench_scale_<S>x.json`` per size, then ``summarise``:
``bench_scale.json`` (every size, per-stage growth exponents = log-log slopes of seconds against
size), ``scale.png`` (seconds against size per stage) and the README table between
``<!-- scale:start -->`` and ``<!-- scale:end -->``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "scale"
START, END = "<!-- scale:start -->", "<!-- scale:end -->"
#: Stages shown in the table and the plot, in pipeline order (keys made by :func:`stage_key`).
MAIN_STAGES = (
    "generate",
    "encode item texts",
    "concepts of items",
    "concept graph",
    "interest space",
    "signals",
    "profiles and fusion weights",
    "rating model",
    "fit",
    "profiles (all users)",
    "recommend (local)",
    "save artifacts",
    "recommend (ray)",
    "evaluate",
)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# ---------------------------------------------------------------------- memory
def _rss(pid: int | str = "self") -> int:
    """Resident bytes of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _tree_rss() -> int:
    """Resident bytes of this process and every descendant (Ray's raylet and workers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                # The command name may hold spaces: the fields after its closing parenthesis.
                fields = fh.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    me = os.getpid()
    tree, frontier = {me}, [me]
    while frontier:
        pid = frontier.pop()
        children = [c for c, p in parents.items() if p == pid and c not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(_rss(p) for p in tree)


class Meter:
    """Wall time and peak memory of named, possibly nested, stages.

    A thread samples this process's RSS every ``interval`` seconds (and the whole process tree's
    every fifth sample) into every open stage's peak. ``stage`` times a block; :meth:`attach`
    turns the pipeline's own ``interestlm.core.progress.step`` lines into stages too.
    """

    def __init__(
        self,
        interval: float = 0.05,
        on_end: Callable[[], None] | None = None,
        *,
        max_rss: float | None = None,
        on_over: Callable[[str, float], None] | None = None,
    ) -> None:
        self.interval = interval
        self.on_end = on_end
        self.max_rss = max_rss
        self.on_over = on_over
        self.records: list[dict[str, Any]] = []
        self._open: dict[int, dict[str, Any]] = {}
        self._by_name: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        tick = 0
        while not self._stop.wait(self.interval):
            rss = _rss()
            tree = _tree_rss() if tick % 5 == 0 else 0
            tick += 1
            with self._lock:
                for rec in self._open.values():
                    rec["_peak"] = max(rec["_peak"], rss)
                    rec["_tree"] = max(rec["_tree"], tree, rss)
                innermost = max(self._open.values(), key=lambda r: r["depth"])["stage"] if self._open else ""
            if self.max_rss is not None and max(rss, tree) > self.max_rss and self.on_over is not None:
                # On a shared machine a size must not push others into the kernel's OOM killer.
                self.on_over(innermost, max(rss, tree))
                return

    def begin(self, name: str, key: str | None = None) -> int:
        """Open stage ``name`` (compared across sizes as ``key``, default ``name``); returns its id."""
        rss = _rss()
        with self._lock:
            rid = len(self.records)
            rec = {"stage": key or name, "label": name, "depth": len(self._open), "_t": time.perf_counter()}
            rec["_cpu"] = time.process_time()
            rec.update(_peak=rss, _tree=rss, rss_start_mb=round(rss / 2**20, 1))
            self.records.append(rec)
            self._open[rid] = rec
            self._by_name.setdefault(name, []).append(rid)
        return rid

    def end(self, rid: int) -> dict[str, Any]:
        """Close stage ``rid``: its seconds and peaks (MiB)."""
        rss = _rss()
        with self._lock:
            rec = self._open.pop(rid)
            for outer in self._open.values():  # what the inner stage saw at its close, the outer ones held too
                outer["_peak"] = max(outer["_peak"], rss)
                outer["_tree"] = max(outer["_tree"], rss)
            rec["seconds"] = round(time.perf_counter() - rec.pop("_t"), 3)
            # CPU seconds of every thread of this process: far less sensitive than wall time to
            # other people's work on a shared machine (Ray's worker processes are not in it).
            rec["cpu_seconds"] = round(time.process_time() - rec.pop("_cpu"), 3)
            rec["peak_rss_mb"] = round(max(rec.pop("_peak"), rss) / 2**20, 1)
            rec["peak_tree_rss_mb"] = round(max(rec.pop("_tree"), rss) / 2**20, 1)
        if self.on_end is not None:
            self.on_end()
        return rec

    @contextmanager
    def stage(self, name: str, *, users: int | None = None) -> Iterator[dict[str, Any]]:
        """Time and measure the block as stage ``name`` (``users``: how many users it served)."""
        rid = self.begin(name)
        if users is not None:
            self.records[rid]["users"] = users
        out: dict[str, Any] = {}
        try:
            yield out
        finally:
            out.update(self.end(rid))

    def attach(self) -> logging.Handler:
        """Record every ``step(...)`` of the pipeline as a stage (and echo its lines on stderr)."""
        meter = self

        class _Steps(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                args = record.args if isinstance(record.args, tuple) else ()
                if record.msg == "%s ..." and len(args) == 1:
                    meter.begin(str(args[0]), stage_key(str(args[0])))
                elif record.msg in ("%s: %.1f s", "%s: failed after %.1f s") and args:
                    ids = meter._by_name.get(str(args[0]), [])
                    open_ids = [i for i in ids if i in meter._open]
                    if open_ids:
                        meter.end(open_ids[-1])
                print(f"  [{time.strftime('%H:%M:%S')}] {record.getMessage()}", file=sys.stderr, flush=True)

        from interestlm.core.progress import LOG

        handler = _Steps(level=logging.INFO)
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        return handler

    def close(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()


def stage_key(name: str) -> str:
    """A stage name without its counts and details, the same at every size:
    ``"encode 9,742 item texts (hashing-256)"`` -> ``"encode item texts"``."""
    name = re.sub(r"\([^)]*\)", "", name)
    name = re.sub(r"\btop-\d+", "top-k", name)
    name = re.sub(r"\b[\d,._]+\b", "", name)
    key = " ".join(name.split()).strip(" ,:")
    return "fit" if key.startswith("fit on") else key


# ---------------------------------------------------------------------- one size
def _top_k_matrix(table: Any, user_ids: Sequence[str], item_index: dict[str, int], k: int) -> np.ndarray:
    """``(n_users, k)`` item indices from an engine table (``-1`` where a list is shorter)."""
    position = {u: i for i, u in enumerate(user_ids)}
    users = np.fromiter((position[u] for u in table.column("user_id").to_pylist()), dtype=np.int64)
    items = np.fromiter((item_index[i] for i in table.column("item_id").to_pylist()), dtype=np.int64)
    ranks = table.column("rank").to_numpy().astype(np.int64)
    out = np.full((len(user_ids), k), -1, dtype=np.int64)
    out[users, ranks - 1] = items
    return out


def _shards_table(parts: Sequence[dict[str, np.ndarray]]) -> Any:
    """The engine's table (``user_id, rank, item_id, score``) of ``recommend_shard`` parts."""
    import pyarrow as pa

    return pa.table({name: np.concatenate([p[name] for p in parts]).tolist() for name in parts[0]})


def _popular_top_k(item: np.ndarray, seen: list[np.ndarray], n_items: int, k: int) -> np.ndarray:
    """Most popular unseen items per user (the baseline that knows nothing of topics)."""
    order = np.argsort(-np.bincount(item, minlength=n_items), kind="stable")
    longest = max((len(s) for s in seen), default=0)
    head = order[: k + longest]
    out = np.full((len(seen), k), -1, dtype=np.int64)
    for u, s in enumerate(seen):
        best = head[~np.isin(head, s)][:k]
        out[u, : len(best)] = best
    return out


#: Cells of one full-catalogue signal matrix that learning the fusion weights may hold: it scores
#: ``fusion_users`` profiles against every item, per signal, and holds about three copies of all
#: of them (3,000 users x 97k items passed 21 GB at 10x and were stopped): ~6 GB at 80M cells.
FUSION_CELLS = 80_000_000


def fusion_users(n_items: int) -> int:
    """``RecommenderConfig.fusion_users`` at a catalogue size: the default 3,000 while its signal
    matrices stay under :data:`FUSION_CELLS` cells, fewer above (1x keeps 3,000, 10x gets 821)."""
    return int(min(3000, max(100, FUSION_CELLS // max(n_items, 1))))


def measure(
    *,
    scale: float,
    engines: Sequence[str] = ("local",),
    encoder: str = "hashing-256",
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    minilm_sample: int = 0,
    workers: int = 2,
    config: dict[str, Any] | None = None,
    max_users: int | None = None,
    partial: Path | None = None,
    max_rss_gb: float | None = None,
) -> dict[str, Any]:
    """Every stage at one size (in this process): seconds, peak RSS, planted recall. With
    ``max_users``, profiles and lists are made for that many sampled users only (and their
    seconds extrapolated to every user in the summary). ``partial`` is rewritten after every
    stage with the stages finished so far (``"partial": true``); past ``max_rss_gb`` GiB (this
    process or its tree) the run writes them with ``stopped_by_memory_cap`` and kills itself."""
    from interestlm.config import RecommenderConfig
    from interestlm.core.metrics import recall
    from interestlm.core.progress import step
    from interestlm.engine import recommend_all_local, recommend_all_ray, recommend_shard, shards
    from interestlm.profiles.space import SpaceConfig
    from interestlm.recommender import Recommender
    from interestlm.testing.synthetic import synthetic

    out: dict[str, Any] = {"scale": scale, "encoder": encoder, "engines": list(engines), "seed": seed}
    out["commit"] = _commit()

    def save_partial() -> None:
        # Every finished stage is on disk at once: a size stopped by its time cap keeps them.
        if partial is not None:
            done = [r for r in meter.records if "seconds" in r]
            partial.write_text(json.dumps({**out, "partial": True, "stages": done}, indent=2) + "\n")

    def over(stage: str, rss: float) -> None:
        out["stopped_by_memory_cap"] = {
            "stage": stage,
            "rss_mb": round(rss / 2**20),
            "cap_mb": round(max_rss_gb * 1024),
        }
        save_partial()
        print(f"stopped: {stage} passed the {max_rss_gb} GiB memory cap", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    meter = Meter(on_end=save_partial, max_rss=max_rss_gb * 2**30 if max_rss_gb else None, on_over=over)
    handler = meter.attach()
    load_before = os.getloadavg()
    started = time.perf_counter()
    try:
        with meter.stage("generate"):
            data = synthetic(scale, seed=seed, **(sizes or {}))
        ds, planted = data.dataset, data.planted
        out.update(
            n_users=ds.interactions.n_users,
            n_items=ds.n_items,
            n_interactions=len(ds.interactions),
            n_topics=len(planted.topics),
        )
        settings = {"fusion_users": fusion_users(ds.n_items), **(config or {})}
        # "space_kind" (a plain value in the results) stands for RecommenderConfig.space.kind.
        space = {"space": SpaceConfig(kind=settings["space_kind"])} if "space_kind" in settings else {}
        cfg = RecommenderConfig(
            encoder=encoder, encoder_threads=1, **{k: v for k, v in settings.items() if k != "space_kind"}, **space
        )
        out["config"] = {"encoder": cfg.encoder, "collaborative": cfg.collaborative, "space_kind": cfg.space.kind}
        out["config"].update(settings)
        rec = Recommender(cfg).fit(ds)
        out["collaborative_model"] = type(rec.state_.ranker.context.collaborative).__name__
        out["candidate_stage"] = rec.state_.ranker.candidates is not None
        users = list(rec.state_.user_ids)
        # Past max_users, the per-user stages run on a seeded sample and are extrapolated linearly.
        if max_users is not None and max_users < len(users):
            rows = np.sort(np.random.default_rng(seed).choice(len(users), max_users, replace=False))
        else:
            rows = np.arange(len(users))
        ranked = [users[r] for r in rows.tolist()]
        out["users_ranked"] = len(ranked)
        with meter.stage("profiles (all users)", users=len(ranked)):
            for u in ranked:
                rec.profile(u)
        k = 10
        tables: dict[str, Any] = {}
        if "local" in engines:
            with meter.stage("recommend (local)", users=len(ranked)):
                if len(ranked) == len(users):
                    tables["local"] = recommend_all_local(rec, k)
                else:
                    with step(f"recommend top-{k} for {len(ranked):,} sampled users (local)"):
                        tables["local"] = _shards_table([recommend_shard(rec, s, k) for s in shards(ranked)])
        if "ray" in engines:
            with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
                with meter.stage("save artifacts"):
                    artifacts = rec.save(Path(tmp) / "artifacts")
                with meter.stage("recommend (ray)", users=len(ranked)):
                    tables["ray"] = recommend_all_ray(artifacts, ranked, k, workers=workers)
        with meter.stage("evaluate"):
            item_index = rec.state_.catalog.index_of()
            inter = ds.interactions
            seen = [s.astype(np.int64) for s in inter.per_user(inter.item)]
            targets = [np.asarray([planted.next_item[r]], dtype=np.int64) for r in rows.tolist()]
            first = next(iter(tables.values()))
            model_recall = float(recall(_top_k_matrix(first, ranked, item_index, k), targets, k).mean())
        out["planted_recall@10"] = round(model_recall, 4)
        oracle = planted.oracle_top_k(seen, k)[rows]
        out["oracle_recall@10"] = round(float(recall(oracle, targets, k).mean()), 4)
        popular = _popular_top_k(inter.item, [seen[r] for r in rows.tolist()], ds.n_items, k)
        out["popularity_recall@10"] = round(float(recall(popular, targets, k).mean()), 4)
        if len(tables) == 2:
            a, b = tables["local"], tables["ray"]
            out["ray_rows_equal_local"] = all(
                a.column(c).to_pylist() == b.column(c).to_pylist() for c in ("user_id", "rank", "item_id")
            )
        out["fusion_weights"] = {n: round(w, 4) for n, w in rec.fusion_.weights.items()}
        if minilm_sample:
            out["minilm"] = _minilm_rate(rec.state_.item_texts, minilm_sample)
    finally:
        from interestlm.core.progress import LOG

        LOG.removeHandler(handler)
        meter.close()
    out["total_seconds"] = round(time.perf_counter() - started, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["stages"] = meter.records
    out["load_average"] = {
        "before": [round(x, 2) for x in load_before],
        "after": [round(x, 2) for x in os.getloadavg()],
    }
    return out


def _minilm_rate(texts: Sequence[str], n: int) -> dict[str, Any]:
    """MiniLM's texts/s on ``n`` of the item texts (one thread, no cache; median of 2 runs), per
    wall second and per CPU second (the second holds on a machine other people load too)."""
    from interestlm.encode import make_encoder

    sample = list(texts[: min(n, len(texts))])
    encoder = make_encoder("minilm", threads=1)
    encoder.encode(sample[:64])  # load the model and warm up
    wall, cpu = [], []
    for _ in range(2):
        t, c = time.perf_counter(), time.process_time()
        encoder.encode(sample)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "texts": len(sample),
        "threads": 1,
        "items_per_second": round(len(sample) / float(np.median(wall)), 1),
        "items_per_cpu_second": round(len(sample) / float(np.median(cpu)), 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _commit() -> str:
    """The checkout's commit (``+dirty`` with uncommitted changes), or ``unknown``."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "../src"], capture_output=True, text=True, cwd=HERE
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if head.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


# ---------------------------------------------------------------------- many sizes
def size_label(scale: float) -> str:
    """``1x``, ``10x``, ``0.5x``."""
    return f"{scale:g}x"


def run(
    scales: Sequence[float],
    engines: Sequence[str],
    encoder: str,
    timeout: float,
    minilm_sample: int,
    rating_model: bool = False,
) -> int:
    """Each size in a fresh subprocess (its own peak memory), one after another."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    failed = 0
    for scale in scales:
        path = RESULTS / f"bench_scale_{size_label(scale)}.json"
        cmd = [
            sys.executable, __file__, "one", "--scale", str(scale), "--encoder", encoder,
            "--engines", *engines, "--out", str(path),
            "--minilm-sample", str(minilm_sample if scale == min(scales) else 0),
            *(["--rating-model"] if rating_model else []),
        ]  # fmt: skip
        print(f"== {size_label(scale)}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(cmd, timeout=timeout, check=False)
            failed += done.returncode != 0
        except subprocess.TimeoutExpired:
            print(f"== {size_label(scale)}: stopped after {timeout:.0f} s", file=sys.stderr)
            kept = json.loads(path.read_text()) if path.is_file() else {"scale": scale, "stages": []}
            path.write_text(json.dumps({**kept, "timed_out_after_s": timeout}, indent=2) + "\n")
            failed += 1
    summarise()
    return 1 if failed else 0


def _totals(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Seconds and peaks per stage key (a key met twice is summed / maxed). A per-user stage run
    on a sample of users has its seconds scaled to every user (``extrapolated`` 1)."""
    out: dict[str, dict[str, float]] = {}
    for rec in result.get("stages", []):
        key = rec["stage"]
        cur = out.setdefault(
            key, {"seconds": 0.0, "cpu_seconds": 0.0, "peak_rss_mb": 0.0, "peak_tree_rss_mb": 0.0, "extrapolated": 0}
        )
        served, everyone = rec.get("users"), result.get("n_users")
        scale = everyone / served if served and everyone and served < everyone else 1.0
        cur["extrapolated"] = max(cur["extrapolated"], int(scale > 1))
        cur["seconds"] += rec["seconds"] * scale
        cur["cpu_seconds"] += rec.get("cpu_seconds", rec["seconds"]) * scale
        cur["peak_rss_mb"] = max(cur["peak_rss_mb"], rec["peak_rss_mb"])
        cur["peak_tree_rss_mb"] = max(cur["peak_tree_rss_mb"], rec["peak_tree_rss_mb"])
    return out


def growth_exponents(results: Sequence[dict[str, Any]], measure: str = "seconds") -> dict[str, dict[str, float | None]]:
    """Per stage: the log-log slope of ``measure`` (``seconds`` or ``cpu_seconds``) against size,
    overall (least squares) and between consecutive sizes (``"1x->10x"``). Stages under 0.05 s
    are left out (timer noise)."""
    done = sorted((r for r in results if "stages" in r), key=lambda r: r["scale"])
    totals = [_totals(r) for r in done]
    # The engines' own step lines ("recommend top-k for users") sit inside the recommend stages.
    keys = [k for k in dict.fromkeys(k for t in totals for k in t) if not k.startswith("recommend top-k")]
    out: dict[str, dict[str, float | None]] = {}
    for key in keys:
        points = [(r["scale"], t[key][measure]) for r, t in zip(done, totals, strict=True) if key in t]
        points = [(s, sec) for s, sec in points if sec >= 0.05]
        if len(points) < 2:
            continue
        xs = np.log([s for s, _ in points])
        ys = np.log([sec for _, sec in points])
        row: dict[str, float | None] = {"overall": round(float(np.polyfit(xs, ys, 1)[0]), 2)}
        for (s0, t0), (s1, t1) in itertools.pairwise(points):
            row[f"{size_label(s0)}->{size_label(s1)}"] = round(math.log(t1 / t0) / math.log(s1 / s0), 2)
        out[key] = row
    return out


def summarise(results_dir: Path = RESULTS, *, readme: bool = True) -> dict[str, Any]:
    """Merge every ``bench_scale_<S>x.json`` into ``bench_scale.json``, plot, and the README table."""
    from interestlm.evaluate.runner import hardware, versions

    results = [json.loads(p.read_text()) for p in sorted(results_dir.glob("bench_scale_*x.json"))]
    results.sort(key=lambda r: r["scale"])
    minilm = next((r["minilm"] for r in results if "minilm" in r), None)
    extrapolated = {}
    if minilm:
        # Per CPU second where measured: wall seconds depend on how loaded the shared machine was.
        rate = minilm.get("items_per_cpu_second", minilm["items_per_second"])
        extrapolated = {size_label(r["scale"]): round(r["n_items"] / rate, 1) for r in results if "n_items" in r}
    summary = {
        "benchmark": "bench_scale",
        "sizes": results,
        "growth_exponents": growth_exponents(results),
        "growth_exponents_cpu": growth_exponents(results, "cpu_seconds"),
        "minilm_encoding_seconds_extrapolated": extrapolated,
        "hardware": hardware(),
        "versions": versions(),
        "note": (
            "one run per size, each in a fresh process, on a shared 2-core machine (load average "
            "recorded per size); size 1x = ml-latest-small's users, items and interactions"
        ),
    }
    (results_dir / "bench_scale.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(results, results_dir / "scale.png")
    if readme:
        import make_table

        make_table.splice(START, END, table(summary))
    return summary


def _fmt_s(sec: float | None) -> str:
    if sec is None:
        return "–"
    return f"{sec:.0f}" if sec >= 100 else f"{sec:.1f}" if sec >= 1 else f"{sec:.2f}"


def table(summary: dict[str, Any]) -> str:
    """The README table: seconds / peak RSS per stage and size, exponents, planted recall."""
    results = [r for r in summary["sizes"] if "stages" in r]
    labels = [size_label(r["scale"]) for r in results]
    totals = [_totals(r) for r in results]
    exps, cpu = summary["growth_exponents"], summary.get("growth_exponents_cpu", {})
    head = ["stage", *(f"{lab} s" for lab in labels), *(f"{lab} peak MiB" for lab in labels)]
    head += ["exponent", "CPU exponent"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keys = [k for k in MAIN_STAGES if any(k in t for t in totals)]
    for key in keys:
        cells = [key]
        cells += [
            _fmt_s(t[key]["seconds"]) + ("*" if t[key]["extrapolated"] else "") if key in t else "–" for t in totals
        ]
        cells += [f"{t[key]['peak_tree_rss_mb']:,.0f}" if key in t else "–" for t in totals]
        cells.append(f"{exps[key]['overall']:.2f}" if key in exps else "–")
        cells.append(f"{cpu[key]['overall']:.2f}" if key in cpu else "–")
        lines.append("| " + " | ".join(cells) + " |")
    cols = ["size", "users", "items", "interactions", "topics", "collaborative", "planted Recall@10", "oracle"]
    cols += ["popularity", "total s", "peak MiB", "load avg", "interest space"]
    lines += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in summary["sizes"]:

        def get(name: str, fmt: str, r: dict[str, Any] = r) -> str:
            return format(r[name], fmt) if name in r else "–"

        stopped = f" (stopped after {r['timed_out_after_s']:.0f} s)" if "timed_out_after_s" in r else ""
        if "stopped_by_memory_cap" in r:
            cap = r["stopped_by_memory_cap"]
            stopped = f" (stopped: {cap['stage']} over {cap['cap_mb'] / 1024:.0f} GiB)"
        load = f"{r['load_average']['before'][0]:.1f}" if "load_average" in r else "–"
        cells = [size_label(r["scale"]) + stopped, get("n_users", ","), get("n_items", ","), get("n_interactions", ",")]
        cells += [get("n_topics", "d"), get("collaborative_model", "s"), get("planted_recall@10", ".3f")]
        cells += [get("oracle_recall@10", ".3f"), get("popularity_recall@10", ".3f"), get("total_seconds", ".0f")]
        cells += [get("peak_rss_mb", ",.0f"), load, r.get("config", {}).get("space_kind", "adapted")]
        lines.append("| " + " | ".join(cells) + " |")
    if any(t[k]["extrapolated"] for t in totals for k in t):
        lines += ["", "\\* measured on a sample of users (`users_ranked`), scaled linearly to every user."]
    extra = summary.get("minilm_encoding_seconds_extrapolated") or {}
    if extra:
        lines += ["", "MiniLM encoding, one thread (CPU seconds measured on 1x texts, extrapolated): " + ", ".join(
            f"{lab} {_fmt_s(sec)} s" for lab, sec in extra.items())]  # fmt: skip
    return "\n".join(lines)


def plot(results: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """CPU seconds against size (log-log), one line per main stage, with slope-1 and slope-2 guides.

    CPU seconds, because wall seconds on a shared machine carry other people's load; the Ray stage
    is left out (its work is in the workers, not in this process's CPU time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in results if "stages" in r]
    if not done:
        return None
    totals = [_totals(r) for r in done]
    fig, ax = plt.subplots(figsize=(9, 5.5))
    colours = plt.get_cmap("tab20").colors
    markers = "osD^v<>ph*"
    for n, key in enumerate(k for k in MAIN_STAGES if k != "recommend (ray)"):
        pts = [(r["scale"], t[key]["cpu_seconds"]) for r, t in zip(done, totals, strict=True) if key in t]
        pts = [(x, y) for x, y in pts if y > 0]
        if pts and max(y for _, y in pts) >= 0.05:
            ax.plot(
                *zip(*pts, strict=True),
                marker=markers[n % len(markers)],
                color=colours[n % len(colours)],
                label=key,
                lw=2.8 if key == "fit" else 1.4,
            )
    xs = np.asarray([min(r["scale"] for r in done), max(r["scale"] for r in done)])
    for slope, style in ((1, ":"), (2, "--")):
        ax.plot(xs, 1.0 * (xs / xs[0]) ** slope, style, color="grey", lw=1, label=f"slope {slope}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("size (x ml-latest-small: 610 users, 9,742 items, 100,836 interactions)")
    ax.set_ylabel("CPU seconds (per-user stages: all users)")
    ax.set_title("interestlm stages against size (planted synthetic data)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="every size, each in a fresh subprocess, then summarise")
    p_run.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    p_run.add_argument("--engines", nargs="+", choices=("local", "ray"), default=["local", "ray"])
    p_run.add_argument("--encoder", default="hashing-256")
    p_run.add_argument("--timeout", type=float, default=3600.0, help="seconds per size before it is stopped")
    p_run.add_argument("--minilm-sample", type=int, default=2000, help="texts MiniLM encodes at the smallest size")
    p_run.add_argument("--rating-model", action="store_true", help="also fit the rating model (off by default)")
    p_one = sub.add_parser("one", help="one size in this process")
    p_one.add_argument("--scale", type=float, required=True)
    p_one.add_argument("--engines", nargs="+", choices=("local", "ray"), default=["local"])
    p_one.add_argument("--encoder", default="hashing-256")
    p_one.add_argument("--minilm-sample", type=int, default=0)
    p_one.add_argument("--out", type=Path, required=True)
    p_one.add_argument("--rating-model", action="store_true")
    p_one.add_argument("--max-users", type=int, default=None, help="profiles and lists for a sample of users")
    p_one.add_argument("--fusion-users", type=int, default=None, help="override fusion_users (memory)")
    p_one.add_argument("--space-kind", choices=("adapted", "text"), default=None, help="override space.kind")
    p_one.add_argument("--max-rss-gb", type=float, default=14.0, help="stop the size past this resident memory")
    p_enc = sub.add_parser("minilm", help="MiniLM's throughput on one size's item texts, into its result file")
    p_enc.add_argument("--scale", type=float, default=1.0)
    p_enc.add_argument("--sample", type=int, default=1000)
    sub.add_parser("summarise", help="merge the per-size files, plot, README table")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.scales, args.engines, args.encoder, args.timeout, args.minilm_sample, args.rating_model)
    if args.command == "one":
        result = measure(
            scale=args.scale,
            engines=args.engines,
            encoder=args.encoder,
            minilm_sample=args.minilm_sample,
            config={
                "rating_model": args.rating_model,
                **({"fusion_users": args.fusion_users} if args.fusion_users else {}),
                **({"space_kind": args.space_kind} if args.space_kind else {}),
            },
            max_users=args.max_users,
            partial=args.out,
            max_rss_gb=args.max_rss_gb,
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: v for k, v in result.items() if k != "stages"}, indent=2))
        return 0
    if args.command == "minilm":
        from interestlm.testing.synthetic import synthetic
        from interestlm.text import item_texts

        path = RESULTS / f"bench_scale_{size_label(args.scale)}.json"
        texts = item_texts(synthetic(args.scale).dataset.catalog, reviews=None)
        result = json.loads(path.read_text()) if path.is_file() else {"scale": args.scale}
        result["minilm"] = _minilm_rate(texts, args.sample)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["minilm"], indent=2))
        return 0
    summarise()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
