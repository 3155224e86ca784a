"""Language-model text on ml-latest-small: LM vs template side by side, grounding, fallback rate,
latency, cache hit rate, and new users described only by text (Recall@10 vs most-popular).

One run:

1. ``N`` users are held out completely (a cold-start slice); the recommender is fitted on the rest.
2. **Side by side** (``--report-users`` fitted users): template vs LM summary, and the top-5
   with template vs LM explanation; every shown LM explanation is audited against its evidence
   (titles found in it, quoted spans, concept names) independently of the validator's verdict.
   Then the same users again: every call must come from the cache. The explanations are written
   with the newest prompt (``explain.v2``: the code writes the title, the model the reason); the
   same recommendations are then explained with ``explain.v1`` (the model writes the whole
   sentence) under the same validator, so both fallback rates come from one run.
3. **New users from text**: each held-out user is described by a sentence built from the
   genre/tag concepts of the items they rated (likes >= 4, dislikes <= 2; never titles), and
   ranked from that text alone: vector only, cue-word parse, LM parse — against most-popular.
   Targets: the items they rated >= 4. Each text profile is also ranked the way it was before
   seed items were kept recommendable (the stand-in seeds filtered as if seen): the "before" rows.

Writes ``benchmarks/results/lm/bench_lm.json`` and ``report_ml-latest-small.md``.

Usage: python benchmarks/bench_lm.py [--users 100] [--report-users 20] [--vector-cache DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from interestlm.config import RecommenderConfig
from interestlm.core.metrics import ndcg, recall
from interestlm.core.schema import SEED_ITEMS, InterestProfile
from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import hardware, versions
from interestlm.explain import Explanation
from interestlm.explain.lm import lm_explanation
from interestlm.lm import Generator, LMCache, LocalLM
from interestlm.lm_writer import LMWriter
from interestlm.recommender import Recommender
from interestlm.text.mentions import display_title, normalise, quoted_spans, title_forms

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "lm"
PHRASES = [
    ("I love {likes}.", " I can't stand {dislikes}."),
    ("Mostly I watch {likes}.", " Not a fan of {dislikes}."),
    ("Give me {likes} any day.", " But I hate {dislikes}."),
    ("I'm really into {likes}.", " I avoid {dislikes}."),
]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def describe(rec: Recommender, liked: np.ndarray, disliked: np.ndarray, rng: np.random.Generator) -> str:
    """A taste sentence from the genre/tag concepts of a user's rated items (no titles)."""
    ic = rec.state_.item_concepts
    keep = np.array([k in ("genre", "tag") for k in ic.kinds])
    df = np.asarray((ic.matrix > 0).sum(axis=0)).ravel() + 1.0
    idf = np.log(ic.n_items / df)

    def top(items: np.ndarray, n: int, exclude: set[str]) -> list[str]:
        if len(items) == 0:
            return []
        counts = np.asarray((ic.matrix[items] > 0).sum(axis=0)).ravel()
        score = counts * idf * keep
        order = np.argsort(-score, kind="stable")
        return [ic.names[c] for c in order if counts[c] >= 2 and score[c] > 0 and ic.names[c] not in exclude][:n]

    likes = top(liked, 4, set())
    dislikes = top(disliked, 2, set(likes)) if len(disliked) >= 3 else []
    head, tail = PHRASES[int(rng.integers(len(PHRASES)))]
    text = head.format(likes=_join(likes)) if likes else "I watch all sorts of things."
    return text + (tail.format(dislikes=_join(dislikes)) if dislikes else "")


def audit(e: Explanation, rec: Recommender, writer: LMWriter) -> bool:
    """True when the sentence names only evidence titles / concepts (independent of the validator)."""
    titles = rec.catalog.titles
    item_concepts = rec.state_.item_concepts
    mentions = writer.mentions(titles, item_concepts)
    allowed_items = {e.item, *e.evidence}
    # Words spelling an evidence title name that item, not also a same-named or shorter title.
    found = mentions.items(e.text, besides=allowed_items)
    # A quoted span must be one of the evidence titles, written any usual way (with or without year).
    allowed_forms = set().union(*(title_forms(titles[i]) for i in allowed_items))
    quoted_ok = all(normalise(q) in allowed_forms for q in quoted_spans(e.text))
    allowed_concepts = {normalise(c) for c in (*e.concepts, *e.interest_label.split(" & "), *e.path)}
    allowed_concepts |= {normalise(item_concepts.names[c]) for c, _ in item_concepts.of_item(e.item)[:3]}
    in_titles = " ".join(normalise(display_title(titles[i])) for i in allowed_items)
    concepts_ok = all(
        normalise(c) in allowed_concepts or f" {normalise(c)} " in f" {in_titles} "
        for c in mentions.concepts(e.text, besides=allowed_concepts)
    )
    # A catalog title that reads exactly like an allowed concept ("Adventure"; "children" for
    # "Children, The (2008)") names the concept.
    found = {i for i in found if not title_forms(titles[i]) & allowed_concepts}
    return found <= allowed_items and quoted_ok and concepts_ok


def side_by_side(rec: Recommender, writer: LMWriter, users: list[str], k: int) -> tuple[list[dict[str, Any]], dict]:
    rows = []
    shown = grounded = 0
    failures = []
    explain_stats = {"calls": 0, "accepted": 0}
    for u in users:
        profile = rec.profile(u)
        lm_profile = writer.summarise(profile, rec.catalog.titles, rec.state_.item_concepts)
        recs = rec.recommend(u, k, explain=True)
        template = [r.explanation for r in recs if r.explanation is not None]
        before = writer.generator.stats.calls
        lm = writer.explain_all(template, rec.catalog.titles, rec.state_.item_concepts)
        explain_stats["calls"] += writer.generator.stats.calls - before
        items = []
        for r, t, e in zip(recs, template, lm, strict=True):
            explain_stats["accepted"] += e.text_source != "template"
            if e.text_source != "template":
                shown += 1
                ok = audit(e, rec, writer)
                grounded += ok
                if not ok:
                    failures.append({"user_id": u, "evidence": t.text, "lm": e.text})
            items.append({"title": rec.catalog.titles[r.item], "template": t.text, "lm": e.text,
                          "lm_source": e.text_source})
        rows.append({"user_id": u, "summary_template": profile.summary, "summary_lm": lm_profile.summary,
                     "summary_source": lm_profile.summary_source, "recommendations": items})
    calls = explain_stats["calls"]
    return rows, {"lm_explanations_shown": shown, "grounded": grounded,
                  "grounding_rate": grounded / shown if shown else None, "failures": failures,
                  "explanation_calls": calls,
                  "explanation_fallback_rate": (calls - explain_stats["accepted"]) / calls if calls else None}


def explain_with_prompt(rec: Recommender, writer: LMWriter, users: list[str], k: int, version: int) -> dict[str, Any]:
    """Fallback rate and grounding of the same users' explanations written with ``explain.v{version}``."""
    generator = Generator(writer.generator.lm, cache=writer.generator.cache)
    shown = grounded = 0
    for u in users:
        for r in rec.recommend(u, k, explain=True):
            assert r.explanation is not None
            mentions = writer.mentions(rec.catalog.titles, rec.state_.item_concepts)
            e = lm_explanation(r.explanation, generator, mentions=mentions, titles=rec.catalog.titles,
                               item_concepts=rec.state_.item_concepts, prompt_version=version)
            if e.text_source != "template":
                shown += 1
                grounded += audit(e, rec, writer)
    return {"prompt": f"explain.v{version}", **generator.stats.to_json(), "lm_explanations_shown": shown,
            "grounded": grounded, "grounding_rate": grounded / shown if shown else None}


def seeds_filtered(profile: InterestProfile) -> InterestProfile:
    """The profile as ranked before seed items stayed recommendable (its seeds filtered as if seen)."""
    return replace(profile, extra={k: v for k, v in profile.extra.items() if k != SEED_ITEMS})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--users", type=int, default=100, help="held-out users described by text")
    parser.add_argument("--report-users", type=int, default=20)
    parser.add_argument("--k", type=int, default=5, help="recommendations per user in the side-by-side report")
    parser.add_argument("--vector-cache", default="/tmp/interestlm-vector-cache")
    parser.add_argument("--artifacts", default="/tmp/interestlm-bench-lm-artifacts",
                        help="the fitted recommender is saved here and loaded on the next run (same seed)")
    parser.add_argument("--lm-cache", default=None, help="SQLite LM cache (default: a fresh one in the output dir)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1: see LocalLM)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    OUT.mkdir(parents=True, exist_ok=True)

    dataset = load_dataset(args.dataset)
    inter = dataset.interactions
    liked_rows = inter.rating >= 4
    n_liked = np.bincount(inter.user[liked_rows], minlength=inter.n_users)
    eligible = np.flatnonzero(n_liked >= 10)
    held = np.sort(rng.choice(eligible, min(args.users, len(eligible)), replace=False))
    train = dataset.with_interactions(inter.select(~np.isin(inter.user, held)))
    t0 = time.perf_counter()
    saved = Path(args.artifacts) / f"{dataset.name}-seed{args.seed}-held{len(held)}"
    if (saved / "manifest.json").is_file():
        rec = Recommender.load(saved)
    else:
        rec = Recommender(RecommenderConfig(cache_dir=args.vector_cache)).fit(train)
        rec.save(saved)
    fit_seconds = time.perf_counter() - t0
    print(f"recommender ready ({len(train.interactions)} training rows) in {fit_seconds:.0f} s", flush=True)

    lm_cache_path = Path(args.lm_cache) if args.lm_cache else OUT / "lm-cache.sqlite"
    if not args.lm_cache and lm_cache_path.exists():
        lm_cache_path.unlink()  # cold start: the first pass measures generation, not the cache
    local = LocalLM(n_threads=args.threads)
    generator = Generator(local, cache=LMCache(lm_cache_path))
    writer = LMWriter(generator)

    # ---- side by side, cold cache then warm cache
    known = [str(u) for u in inter.user_ids[np.setdiff1d(np.unique(train.interactions.user), held)].tolist()]
    report_users = sorted(rng.choice(known, args.report_users, replace=False).tolist(), key=int)
    t = time.perf_counter()
    rows, grounding = side_by_side(rec, writer, report_users, args.k)
    cold_seconds = time.perf_counter() - t
    cold = generator.stats.to_json()
    cold_latency = list(generator.stats.seconds)
    tokens_per_second = local.tokens_generated / local.seconds_generating if local.seconds_generating else None
    generator.stats = type(generator.stats)()
    t = time.perf_counter()
    rows_again, _ = side_by_side(rec, writer, report_users, args.k)
    warm_seconds = time.perf_counter() - t
    warm = generator.stats.to_json()
    warm_latency = list(generator.stats.seconds)
    assert rows_again == rows, "cached text must equal the generated text"
    v1 = explain_with_prompt(rec, writer, report_users, args.k, version=1)
    print(f"explain.v1 on the same recommendations: fallback {v1['fallback_rate']:.1%}", flush=True)

    # ---- new users from text
    text_stats_before = generator.stats.to_json()
    popularity = np.bincount(train.interactions.item, minlength=dataset.n_items).astype(np.float64)
    pop_top = np.argsort(-popularity, kind="stable")[:10]
    # One text path since the core redesign: the rule parse (the default) and the LM's refinement.
    names = ("rules_parse", "lm_parse")
    tops: dict[str, list[np.ndarray]] = {"most_popular": [], **{n: [] for n in names},
                                         **{f"{n} (before: seeds filtered)": [] for n in names}}
    targets, examples, sources = [], [], Counter()
    parse_seconds = []
    for u in held.tolist():
        rows_u = inter.user == u
        items, ratings = inter.item[rows_u], inter.rating[rows_u]
        text = describe(rec, items[ratings >= 4], items[ratings <= 2], rng)
        targets.append(np.unique(items[ratings >= 4]))
        t = time.perf_counter()
        lm_profile = rec.with_text(writer).profile_from_text(text, user_id=f"text-{u}")
        parse_seconds.append(time.perf_counter() - t)
        sources[lm_profile.extra["taste"]["source"].split(":")[0]] += 1
        profiles = {
            "rules_parse": rec.profile_from_text(text, user_id=f"text-{u}"),
            "lm_parse": lm_profile,
        }
        for name, profile in profiles.items():
            tops[name].append(np.array([r.item for r in rec.recommend(profile, 10, explain=False)]))
            before = rec.recommend(seeds_filtered(profile), 10, explain=False)
            tops[f"{name} (before: seeds filtered)"].append(np.array([r.item for r in before]))
        tops["most_popular"].append(pop_top)
        if len(examples) < 10:
            examples.append({"user": str(inter.user_ids[u]), "text": text,
                             "rules": profiles["rules_parse"].extra["taste"], "lm": lm_profile.extra["taste"]})
    new_user = {
        name: {
            "recall@10": float(np.mean(recall(np.stack(top), targets, 10))),
            "ndcg@10": float(np.mean(ndcg(np.stack(top), targets, 10))),
        }
        for name, top in tops.items()
    }
    text_calls = {k: generator.stats.to_json()[k] - text_stats_before[k]
                  for k in ("calls", "accepted", "rejected", "errors")}

    result = {
        "dataset": dataset.name,
        "model": local.model_id,
        "threads": args.threads,
        "encoder": rec.state_.encoder.model_id,
        "fit_or_load_seconds": round(fit_seconds, 1),
        "side_by_side": {
            "users": len(report_users),
            "recommendations_per_user": args.k,
            "grounding": grounding,
            "cold_cache": cold,
            "warm_cache": warm,
            "seconds_cold": round(cold_seconds, 2),
            "seconds_warm": round(warm_seconds, 3),
            "latency_cold_ms": {"median": round(1000 * statistics.median(cold_latency), 1),
                                "p95": round(1000 * float(np.percentile(cold_latency, 95)), 1)},
            "latency_warm_ms": {"median": round(1000 * statistics.median(warm_latency), 2),
                                "p95": round(1000 * float(np.percentile(warm_latency, 95)), 2)},
            "tokens_per_second": round(tokens_per_second, 1) if tokens_per_second else None,
            "explain_prompt_v1": v1,
        },
        "new_users_from_text": {
            "n_users": len(held),
            "targets": "items the user rated >= 4 (mean "
            f"{statistics.mean(len(t) for t in targets):.1f} per user)",
            "metrics": new_user,
            "lm_parse_sources": dict(sources),
            "lm_parse_calls": text_calls,
            "parse_ms_median": round(1000 * statistics.median(parse_seconds), 1),
            "examples": examples,
        },
        "hardware": hardware(),
        "versions": versions(),
        "note": "shared 2-core machine; greedy decoding (temperature 0, seed 0)",
    }
    (OUT / "bench_lm.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (OUT / f"report_{dataset.name}.md").write_text(markdown(result, rows), encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in ("hardware", "versions")}, indent=2)[:6000])
    return 0


def markdown(result: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    sbs, nu = result["side_by_side"], result["new_users_from_text"]
    g = sbs["grounding"]
    v1 = sbs["explain_prompt_v1"]
    cold = sbs["cold_cache"]
    lines = [
        f"# Language-model text on {result['dataset']}",
        "",
        f"Model: `{result['model']}` (llama.cpp, {result['threads']} thread(s), greedy). "
        "Generated by `benchmarks/bench_lm.py`.",
        "",
        "## Summary numbers",
        "",
        f"- LM calls (cold cache): {cold['calls']}; accepted {cold['accepted']}, rejected {cold['rejected']}, "
        f"errors {cold['errors']} -> **fallback rate {cold['fallback_rate']:.1%}**; reasons: {cold['reasons']}",
        f"- Explanations only ({g['explanation_calls']} LM calls, prompt `explain.v2`: the code writes the title, "
        f"the model the reason): **fallback rate {g['explanation_fallback_rate']:.1%}**; the same recommendations "
        f"with `explain.v1` (the model writes the whole sentence), same validator, same run: "
        f"**{v1['fallback_rate']:.1%}** ({v1['calls']} calls; reasons: {v1['reasons']}; "
        f"grounding of the v1 texts shown {v1['grounded']}/{v1['lm_explanations_shown']})",
        f"- Grounding of the LM explanations shown: {g['grounded']}/{g['lm_explanations_shown']}"
        + (f" = **{g['grounding_rate']:.0%}**" if g["grounding_rate"] is not None else ""),
        f"- Latency per generation: cold median {sbs['latency_cold_ms']['median']} ms "
        f"(p95 {sbs['latency_cold_ms']['p95']} ms), cached median {sbs['latency_warm_ms']['median']} ms; "
        f"{sbs['tokens_per_second']} tokens/s",
        f"- Second pass over the same users: cache hit rate {sbs['warm_cache']['cache_hit_rate']:.0%}",
        "",
        f"## New users from text ({nu['n_users']} held-out users; targets: {nu['targets']})",
        "",
        "| profile from text | Recall@10 | NDCG@10 |",
        "|---|---|---|",
        *[f"| {name} | {m['recall@10']:.4f} | {m['ndcg@10']:.4f} |" for name, m in nu["metrics"].items()],
        "",
        "Each text profile is seeded with the well-known items that carry its liked concepts and fit the "
        "text; those seeds stand in for a history and stay recommendable. The *before* rows rank the same "
        "profiles with the seeds filtered as if seen (the behaviour up to this change).",
        "",
        f"LM parse used for {nu['lm_parse_sources']} users (else the cue-word rules); "
        f"median parse time {nu['parse_ms_median']} ms.",
        "",
        "## Side by side",
        "",
    ]
    for row in rows:
        lines += [
            f"### User {row['user_id']}",
            "",
            f"- **Template summary:** {row['summary_template']}",
            f"- **LM summary** (`{row['summary_source']}`): {row['summary_lm']}",
            "",
            "| recommended | template explanation | LM explanation |",
            "|---|---|---|",
        ]
        for item in row["recommendations"]:
            lm = item["lm"] if item["lm_source"] != "template" else "*(fell back to the template)*"
            lines.append(f"| {item['title']} | {item['template']} | {lm} |".replace("\n", " "))
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
