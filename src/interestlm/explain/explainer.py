"""Grounded explanations: the interest an item serves, shared concepts, evidence and a graph path.

Everything cited comes from the profile: evidence items are rows of ``profile.history`` the user
did not dislike (:func:`~interestlm.explain.explanation.citable_items`), concepts are the user's
positive concepts, and the sentence is rendered from those parts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from interestlm.core.names import normalise_name
from interestlm.core.schema import ConceptGraph, Explanation, InterestProfile, ItemConcepts
from interestlm.core.types import FloatArray
from interestlm.explain.explanation import citable_items
from interestlm.explain.sentence import render

#: How many of the user's top concepts, and of the item's, are tried as ends of a graph path.
_PATH_ENDS = 5


def _unit_rows(x: npt.NDArray[np.floating]) -> FloatArray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: FloatArray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


def _user_concepts(profile: InterestProfile) -> dict[str, float]:
    """Positive concept weights of the user: liked and signed concepts, pinned ones, minus muted ones."""
    signed = {normalise_name(n): float(w) for n, w in profile.concepts}
    weights: dict[str, float] = {n: w for n, w in signed.items() if w > 0}
    for name, w in profile.liked_concepts:
        key = normalise_name(name)
        if signed.get(key, 0.0) >= 0 and w > 0:
            weights[key] = max(weights.get(key, 0.0), float(w))
    top = max(weights.values(), default=1.0)
    for name in profile.edits.pinned:
        key = normalise_name(name)
        weights[key] = max(weights.get(key, 0.0), top)
    for name in profile.edits.muted:
        weights.pop(normalise_name(name), None)
    return weights


def _citable_in_order(profile: InterestProfile, allowed: frozenset[int] | None = None) -> list[int]:
    """Citable history items, most recent first (recency breaks similarity ties)."""
    if allowed is None:
        allowed = citable_items(profile)
    seen: set[int] = set()
    out: list[int] = []
    for item in reversed(profile.history.items.tolist()):
        if item in allowed and item not in seen:
            seen.add(item)
            out.append(int(item))
    return out


def _check_inputs(
    profile: InterestProfile,
    items: Sequence[int],
    item_vectors: FloatArray,
    item_concepts: ItemConcepts,
    titles: Sequence[str] | None,
) -> None:
    if item_vectors.ndim != 2:
        raise ValueError(f"item_vectors must be 2-D (items x dim), got shape {item_vectors.shape}")
    n_items = item_vectors.shape[0]
    if item_concepts.n_items != n_items:
        raise ValueError(f"item_concepts has {item_concepts.n_items} item rows but item_vectors has {n_items}")
    if titles is not None and len(titles) != n_items:
        raise ValueError(f"titles has {len(titles)} entries but there are {n_items} items")
    bad = [int(i) for i in items if not 0 <= int(i) < n_items]
    if bad:
        raise ValueError(f"items {bad[:5]} are outside the catalog of {n_items} items")
    hist = profile.history.items
    if len(hist) and (int(hist.min()) < 0 or int(hist.max()) >= n_items):
        raise ValueError(f"profile {profile.user_id!r} has history items outside the catalog of {n_items} items")
    for pos, interest in enumerate(profile.interests):
        if interest.vector.shape != (item_vectors.shape[1],):
            raise ValueError(
                f"interest {pos} of profile {profile.user_id!r} has a vector of shape {interest.vector.shape}, "
                f"expected ({item_vectors.shape[1]},)"
            )


def _graph_path(
    graph: ConceptGraph, user_concepts: Sequence[str], item_concept_names: Sequence[str], max_hops: int = 3
) -> tuple[str, ...]:
    """Shortest path (fewest hops in ``graph.adjacency``) from one of the user's top concepts to one of
    the item's; one breadth-first search from all sources at once, so big graphs cost one pass."""
    index = graph.name_index()
    sources = list(dict.fromkeys(index[n] for n in user_concepts if n in index))[:_PATH_ENDS]
    targets = set(list(dict.fromkeys(index[n] for n in item_concept_names if n in index))[:_PATH_ENDS])
    if not sources or not targets or targets & set(sources):
        # A concept on both ends is a shared concept, which the caller reports instead of a path.
        return ()
    indptr, indices = graph.adjacency.indptr, graph.adjacency.indices
    parent = {s: s for s in sources}
    frontier = sources
    for _ in range(max_hops):
        nxt_frontier: list[int] = []
        for node in frontier:
            for nxt in indices[indptr[node] : indptr[node + 1]].tolist():
                if nxt in parent:
                    continue
                parent[nxt] = node
                if nxt in targets:
                    path = [nxt]
                    while parent[path[-1]] != path[-1]:
                        path.append(parent[path[-1]])
                    return tuple(graph.names[c] for c in reversed(path))
                nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return ()


def explain_many(
    profile: InterestProfile,
    items: Sequence[int] | npt.NDArray[np.integer],
    *,
    item_vectors: FloatArray,
    item_concepts: ItemConcepts,
    graph: ConceptGraph | None = None,
    titles: Sequence[str] | None = None,
    max_evidence: int = 3,
    max_concepts: int = 3,
    citable: frozenset[int] | None = None,
    render_text: bool = True,
) -> list[Explanation]:
    """Explanations of several items recommended to one user (see :func:`explain_item`).

    ``citable`` (optional) is :func:`citable_items` of ``profile`` when the caller has it already;
    ``render_text=False`` leaves ``text`` empty for a caller that renders after adding reasons.
    """
    if max_evidence < 1 or max_concepts < 1:
        raise ValueError("max_evidence and max_concepts must be at least 1")
    item_list = [int(i) for i in items]
    _check_inputs(profile, item_list, item_vectors, item_concepts, titles)

    # Interests whose weight the user set to 0 are removed, so they cannot serve an item.
    overrides = dict(profile.edits.interest_weights)
    active = [p for p in range(len(profile.interests)) if overrides.get(p, 1.0) != 0]
    interest_vecs = _unit_rows(np.stack([profile.interests[p].vector for p in active])) if active else None

    in_order = _citable_in_order(profile, citable)
    citable_vecs = _unit_rows(item_vectors[in_order]) if in_order else None
    user_weights = _user_concepts(profile)
    user_top: list[str] | None = None  # sorted on first use: only graph paths read it

    # Every item's similarities at once: one product per kind instead of one per item.
    vecs = _unit_rows(item_vectors[item_list]) if item_list else np.zeros((0, item_vectors.shape[1]), np.float32)
    interest_sims = interest_vecs @ vecs.T if interest_vecs is not None else None
    evidence_sims = citable_vecs @ vecs.T if citable_vecs is not None else None

    out: list[Explanation] = []
    for j, item in enumerate(item_list):
        interest: int | None = None
        label = ""
        if interest_sims is not None:
            best = int(np.argmax(interest_sims[:, j]))
            if interest_sims[best, j] > 0:
                interest = active[best]
                label = profile.interests[interest].label

        pairs = [(item_concepts.names[c], w) for c, w in item_concepts.of_item(item)]
        names = [(normalise_name(n), w) for n, w in pairs]
        shared = sorted(((n, w * user_weights[n]) for n, w in names if n in user_weights), key=lambda p: (-p[1], p[0]))
        concepts = tuple(dict.fromkeys(n for n, _ in shared))[:max_concepts]

        evidence: tuple[int, ...] = ()
        if evidence_sims is not None:
            sims = evidence_sims[:, j]
            # Stable sort keeps recency order among equal similarities.
            chosen: list[int] = []
            for pos in np.argsort(-sims, kind="stable").tolist():
                if sims[pos] <= 0 or len(chosen) == max_evidence:
                    break
                if in_order[pos] != item:
                    chosen.append(in_order[pos])
            evidence = tuple(chosen)

        path: tuple[str, ...] = ()
        if not concepts and graph is not None:
            if user_top is None:
                user_top = sorted(user_weights, key=lambda n: (-user_weights[n], n))
            path = _graph_path(graph, user_top, [n for n, _ in names])

        draft = Explanation(
            item=item, interest=interest, interest_label=label, concepts=concepts, evidence=evidence, path=path, text=""
        )
        out.append(replace(draft, text=render(draft, titles)) if render_text else draft)
    return out


def explain_item(
    profile: InterestProfile,
    item: int,
    *,
    item_vectors: FloatArray,
    item_concepts: ItemConcepts,
    graph: ConceptGraph | None = None,
    titles: Sequence[str] | None = None,
    max_evidence: int = 3,
    max_concepts: int = 3,
) -> Explanation:
    """Why ``item`` suits the user of ``profile``, grounded in that profile.

    * interest: the cluster whose vector is most similar (cosine) to the item's vector;
    * concepts: the item's concepts that are among the user's positive concepts (liked, signed
      positive or pinned; never muted), by item weight x user weight;
    * evidence: up to ``max_evidence`` citable history items most similar to the item (positive
      similarity only; the item itself is never its own evidence);
    * path: when no concept is shared and ``graph`` is given, the shortest concept-graph path from
      one of the user's top concepts to one of the item's concepts.
    """
    return explain_many(
        profile,
        [item],
        item_vectors=item_vectors,
        item_concepts=item_concepts,
        graph=graph,
        titles=titles,
        max_evidence=max_evidence,
        max_concepts=max_concepts,
    )[0]
