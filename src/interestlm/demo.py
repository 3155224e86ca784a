"""``interestlm demo``: the product's story on the shipped MovieLens sample, told in order.

1. the data; 2. fitting (the learned signal weights); 3. what the profile says about one user;
4. their top-10 with explanations; 5. a live like and 6. a mute, each changing the list at once;
7. save and reload (the time it takes); 8. evaluation beside the baselines (full ranking, LOO).
Every JSON body is written whole to the output folder; the terminal shows readable text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interestlm.config import RecommenderConfig
from interestlm.core.progress import step
from interestlm.core.schema import Event
from interestlm.data.describe import describe
from interestlm.data.registry import load_dataset
from interestlm.recommender import Recommender
from interestlm.render import profile_text, recommendations_text

#: The sample's user the story follows (three interests, a dislike; also the README's user).
DEMO_USER = "2"


def _write(payload: Any, path: Path) -> Path:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _heading(text: str) -> None:
    print(f"\n== {text}")


def _carrying(rec: Recommender, item_ids: Sequence[str], concept: str) -> list[str]:
    """Which of ``item_ids`` carry ``concept`` in the catalogue's concept matrix."""
    state = rec.state_
    column = state.item_concepts.index_of()[concept]
    rows = [state.item(i) for i in item_ids]
    present = np.asarray(state.item_concepts.matrix[rows][:, column].todense()).ravel() > 0
    return [i for i, p in zip(item_ids, present, strict=True) if p]


def _changes(before: Sequence[str], after: Sequence[str], titles: dict[str, str]) -> str:
    entered = [titles[i] for i in after if i not in before]
    left = [titles[i] for i in before if i not in after]
    return f"  entered the top-10: {entered or 'none'}\n  left it: {left or 'none'}"


def like_to_explore(rec: Recommender, user: str, profile: dict[str, Any]) -> tuple[str, str] | None:
    """A concept the profile suggests exploring and its most popular item the user has not seen."""
    state = rec.state_
    seen = set(rec.profile(user).history.items.tolist())
    index = state.item_concepts.index_of()
    popularity = state.ranker.context.log_popularity
    for concept, _ in profile.get("explore", []):
        column = index.get(concept)
        if column is None:
            continue
        items = state.item_concepts.matrix[:, column].nonzero()[0]
        unseen = [int(i) for i in items if int(i) not in seen]
        if unseen:
            best = max(unseen, key=lambda i: float(popularity[i]))
            return concept, str(state.catalog.item_ids[best])
    return None


def run_demo(output: Path, models: Sequence[str], model_settings: dict[str, dict[str, Any]]) -> list[Path]:
    """Tell the story (see the module docstring); returns the files written under ``output``."""
    from interestlm.evaluate.report import print_table, write_report, write_results
    from interestlm.evaluate.runner import EvaluationConfig, run_evaluation

    output.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    _heading("1. The data: 250 users of MovieLens (ml-latest-small), all their ratings")
    dataset = load_dataset("ml-latest-small-sample")
    print(describe(dataset).format())

    _heading("2. Fit the interest-profile recommender (MiniLM item vectors, concepts, graph, profiles)")
    # One encoder cache for the fit and the evaluation's fit (the same item texts), kept with the
    # output so a second demo run skips encoding.
    cache = str(output / "encoder-cache")
    rec = Recommender(RecommenderConfig(cache_dir=cache)).fit(dataset)
    print("Learned weight of each signal (what the ranking adds up):\n" + rec.fusion_.table())

    user = DEMO_USER
    titles = {str(i): str(t) for i, t in zip(rec.catalog.item_ids, rec.catalog.titles, strict=True)}
    _heading(f"3. What the profile says about user {user}")
    profile = rec.profile_json(user)
    print(profile_text(profile))
    written.append(_write(profile, output / "profile.json"))

    _heading(f"4. Top-10 for user {user}, each with the signal that carried it and why")
    first = rec.recommendations_json(user, 10)
    print(recommendations_text(first))
    written.append(_write(first, output / "recommendations.json"))
    before = [r["item_id"] for r in first["recommendations"]]

    story: dict[str, Any] = {"user_id": user, "before": before}
    liked = like_to_explore(rec, user, profile)
    if liked is not None:
        concept, item = liked
        _heading(f"5. A live like: user {user} likes {titles[item]!r} (a {concept!r} film the profile suggested)")
        rec.update(user, Event(item=rec.item_index(item), kind="like", timestamp=int(time.time())))
        liked_list = rec.recommendations_json(user, 10)
        after_like = [r["item_id"] for r in liked_list["recommendations"]]
        print(_changes(before, after_like, titles))
        print(f"  top-10 items carrying {concept!r}: {len(_carrying(rec, before, concept))} before, "
              f"{len(_carrying(rec, after_like, concept))} after")  # fmt: skip
        story["like"] = {"item_id": item, "concept": concept, "after": after_like}
        before = after_like

    counts = {c: len(_carrying(rec, before, c)) for c, _ in rec.profile_json(user)["concepts"][:10]}
    muted = max(counts, key=lambda c: counts[c])
    _heading(f"6. User {user} mutes {muted!r} ({counts[muted]} of the top-10 carry it)")
    rec.edit(user, mute=[muted])
    muted_list = rec.recommendations_json(user, 10)
    after_mute = [r["item_id"] for r in muted_list["recommendations"]]
    print(_changes(before, after_mute, titles))
    print(f"  top-10 items carrying {muted!r} now: {len(_carrying(rec, after_mute, muted))}")
    print(recommendations_text(muted_list))
    story["mute"] = {"concept": muted, "carrying_before": counts[muted], "after": after_mute}
    written.append(_write(story, output / "story.json"))

    _heading("7. Save, and load back without refitting")
    artifacts = rec.save(output / "artifacts")
    start = time.perf_counter()
    loaded = Recommender.load(artifacts)
    seconds = time.perf_counter() - start
    same = [r.item_id for r in loaded.recommend(user, 10, explain=False)] == after_mute
    print(f"  {artifacts}: loaded in {seconds:.2f} s; same top-10 after loading: {same}")
    written.append(artifacts)

    _heading(f"8. Evaluation beside the baselines: {', '.join(models)} (leave-one-out, full ranking)")
    with step("evaluation"):
        settings = {**model_settings, "interest": {"cache_dir": cache, **model_settings.get("interest", {})}}
        results = run_evaluation(dataset, models, EvaluationConfig(split="loo", models=settings))
    print_table(results)
    written.append(write_results(results, output / "results.json"))
    written.append(write_report(results, output / "report.md"))
    return written
