"""A :class:`~interestlm.fitted.FittedState` as an inspectable artifacts directory, and back.

``config.toml``, ``items.parquet``, ``item_texts.parquet``, ``vectors.npy`` (text) and the
interest space (``space_*.npy``), ``concepts.jsonl``
(+ matrix), the concept graph, ``interactions.parquet``, ``users.parquet``, ``fusion.json``,
``profiles.jsonl`` (live profiles), ``index.faiss``, with a sequence model ``seqrec/``, with a rating model ``rating/``;
``manifest.json`` holds versions and hashes (:mod:`interestlm.artifacts`). Never pickle.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from interestlm import artifacts
from interestlm.config import RecommenderConfig, config_to_dict, dumps_toml, recommender_config
from interestlm.core.tables import Interactions
from interestlm.fitted import FittedState, content_state, finish_state
from interestlm.models.rating_fused import FusedRating
from interestlm.profiles.space import ItemSpace
from interestlm.rank import Fusion, Imputer, Ranker
from interestlm.retrieve import FaissIndex

#: Where a saved recommender keeps its sequence model.
SEQREC_DIR = "seqrec"
#: Where a saved recommender keeps its rating model.
RATING_DIR = "rating"


def save_state(directory: Path | str, config: RecommenderConfig, state: FittedState) -> Path:
    """Write ``state`` (and ``config``) as an artifacts directory; returns its path."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.toml").write_text(dumps_toml({"recommender": config_to_dict(config)}), encoding="utf-8")
    artifacts.save_catalog(out, state.catalog)
    artifacts.save_table(out, "item_texts", {"text": list(state.item_texts)})
    artifacts.save_array(out, "vectors", state.item_vectors)
    state.space.save(out)
    artifacts.save_item_concepts(out, state.item_concepts)
    artifacts.save_graph(out, state.graph)
    artifacts.save_table(out, "interactions", _interaction_columns(state.train))
    artifacts.save_table(out, "users", {"user_id": list(state.user_ids)})
    ranker = state.ranker
    fusion = {"fusion": ranker.fusion.to_dict(), "imputer": ranker.imputer.coefficients}
    (out / "fusion.json").write_text(json.dumps(fusion, indent=2) + "\n", encoding="utf-8")
    artifacts.save_profiles(out, list(state.profiles.values()))
    artifacts.save_faiss(out, state.faiss().index_)
    if state.sequential is not None:
        # safetensors + JSON; it scores the fitted items, and items added since from content.
        state.sequential.save(out / SEQREC_DIR)
    # -- rating model (issue 26): arrays as .npy under rating/, loaded without refitting
    if state.rating is not None:
        state.rating.save(out / RATING_DIR)
    # -- end rating model
    extra: dict[str, Any] = {"encoder": state.encoder.model_id, "n_items": len(state.catalog)}
    if state.lm_concepts is not None:
        extra["lm_item_concepts"] = state.lm_concepts
    artifacts.write_manifest(out, extra=extra)
    return out


def load_state(directory: Path | str) -> tuple[RecommenderConfig, FittedState]:
    """Read a directory written by :func:`save_state` (hashes verified), ready to recommend."""
    src = Path(directory)
    if not (src / "manifest.json").is_file():
        raise artifacts.ArtifactError(f"{src}: not an interestlm artifacts directory (no manifest.json)")
    manifest = artifacts.verify_manifest(src)
    config = recommender_config(tomllib.loads((src / "config.toml").read_text(encoding="utf-8")))
    user_ids = [str(u) for u in artifacts.load_table(src, "users")["user_id"]]
    vectors = artifacts.load_array(src, "vectors")
    content = content_state(
        config,
        artifacts.load_catalog(src),
        _interactions_from_columns(artifacts.load_table(src, "interactions"), user_ids),
        texts=[str(t) for t in artifacts.load_table(src, "item_texts")["text"]],
        item_vectors=vectors,
        item_concepts=artifacts.load_item_concepts(src),
        graph=artifacts.load_graph(src),
        space=ItemSpace.load(src, config.space, vectors),
    )
    content.lm_concepts = manifest.get("extra", {}).get("lm_item_concepts")
    sequential = None
    if (src / SEQREC_DIR).is_dir():
        sequential = _load_sequential(src / SEQREC_DIR, content)
    elif config.sequential:
        raise artifacts.ArtifactError(f"{src}: config says sequential = true but {SEQREC_DIR}/ is missing")
    fusion = json.loads((src / "fusion.json").read_text(encoding="utf-8"))
    ranker = Ranker(
        context=content.context,
        fusion=Fusion.from_dict(fusion["fusion"]),
        imputer=Imputer(coefficients=fusion["imputer"]),
        signals=config.signals,
        batch_size=config.batch_size,
    )
    state = finish_state(config, content, ranker, sequential=sequential)
    if (src / "index.faiss").is_file():
        state._faiss = FaissIndex.load(src / "index.faiss")
    # -- rating model (issue 26)
    if (src / RATING_DIR).is_dir():
        state.rating = FusedRating.load(src / RATING_DIR)
    # -- end rating model
    for profile in artifacts.load_profiles(src):
        state.profiles[state.add_user(profile.user_id)] = profile
    return config, state


def _load_sequential(directory: Path, content: Any) -> Any:
    """The saved sequence model, set as ``content.context``'s ``sequential`` scorer."""
    from interestlm.models.seqrec import SeqRec, SeqRecScorer

    model = SeqRec.load(directory)
    scorer = SeqRecScorer(model)
    n_fitted, n_items = model.n_items_, len(content.catalog)
    if n_fitted > n_items:
        raise artifacts.ArtifactError(f"{directory}: the model has {n_fitted} items, the catalog {n_items}")
    if n_fitted < n_items:  # items added after fitting, saved with the catalog
        scorer = scorer.with_items(content.item_vectors[n_fitted:], content.item_concepts.matrix[n_fitted:])
    content.context = replace(content.context, sequential=scorer)
    return model


def _interaction_columns(train: Interactions) -> dict[str, Any]:
    return {
        "user": train.user,
        "item": train.item,
        "timestamp": train.timestamp,
        "rating": train.rating,
        "weight": train.weight,
        "kind": train.kind,
        "review": [str(r) for r in train.review.tolist()],
    }


def _interactions_from_columns(cols: dict[str, Any], user_ids: list[str]) -> Interactions:
    return Interactions.build(
        user=cols["user"],
        item=cols["item"],
        user_ids=user_ids,
        timestamp=cols["timestamp"],
        rating=cols["rating"],
        weight=cols["weight"],
        kind=cols["kind"],
        review=[str(r) for r in cols["review"]],
    )
