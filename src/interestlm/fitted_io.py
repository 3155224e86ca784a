"""A :class:`~interestlm.fitted.FittedState` as an inspectable artifacts directory, and back.

``config.toml``, ``items.parquet``, ``item_texts.parquet``, ``vectors.npy`` (text) and the
interest space (``space_*.npy``), ``concepts.jsonl``
(+ matrix), the concept graph, ``interactions.parquet``, ``users.parquet``, ``fusion.json``,
``profiles.jsonl`` (live profiles), ``index.faiss``, the fitted signals (``signals/``: the
collaborative model's weights, transitions, popularity, concept propagation) and, with a
sequence model, ``seqrec/``, with a rating model ``rating/``; ``manifest.json`` holds versions and hashes
(:mod:`interestlm.artifacts`). Never pickle. Loading reads what fitting computed and refits
nothing (EASE's weights are memory-mapped); artifacts written before ``signals/`` existed are
still read, their signals refitted from the saved interactions.
"""

from __future__ import annotations

import io
import json
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from interestlm import artifacts
from interestlm.config import RecommenderConfig, config_to_dict, dumps_toml, recommender_config
from interestlm.core.schema import ItemConcepts
from interestlm.core.tables import Interactions
from interestlm.core.types import FloatArray
from interestlm.encode.align import ImageTextMap
from interestlm.fitted import FittedState, content_state, finish_state
from interestlm.models.ease import EASE
from interestlm.models.itemknn import ItemKNN
from interestlm.models.rating_io import load_rating_model, save_rating_model
from interestlm.profiles.space import ItemSpace
from interestlm.rank import Fusion, Imputer, Ranker, SignalContext
from interestlm.rank.signals import PaddedModel
from interestlm.retrieve import FaissIndex

#: Where a saved recommender keeps its sequence model.
SEQREC_DIR = "seqrec"
#: Where a saved recommender keeps its fitted signals.
SIGNALS_DIR = "signals"
#: Where a saved recommender keeps its rating model.
RATING_DIR = "rating"
#: Where a saved recommender keeps its items' picture vectors, the picture -> text map and a
#: thumbnail per picture (``<row>.jpg``, what the web page shows: never the dataset's own files).
IMAGES_DIR = "images"
#: Thumbnails are at most this many pixels on their longer side.
THUMBNAIL_SIZE = 240


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
    _save_context(out / SIGNALS_DIR, state.ranker.context)
    if state.sequential is not None:
        # safetensors + JSON; it scores the fitted items, and items added since from content.
        state.sequential.save(out / SEQREC_DIR)
    # -- rating model (issue 26): arrays as .npy under rating/, loaded without refitting
    if state.rating is not None:
        save_rating_model(state.rating, out / RATING_DIR)
    # -- end rating model
    if state.item_pictures is not None:
        _save_pictures(out / IMAGES_DIR, state)
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
    item_concepts = artifacts.load_item_concepts(src)
    space = ItemSpace.load(src, config.space, vectors)
    images_dir = src / IMAGES_DIR
    image_vectors = artifacts.load_array(images_dir, "vectors") if (images_dir / "vectors.npy").is_file() else None
    content = content_state(
        config,
        artifacts.load_catalog(src),
        _interactions_from_columns(artifacts.load_table(src, "interactions"), user_ids),
        texts=[str(t) for t in artifacts.load_table(src, "item_texts")["text"]],
        item_vectors=vectors,
        item_concepts=item_concepts,
        graph=artifacts.load_graph(src),
        space=space,
        context=_load_context(src / SIGNALS_DIR, vectors, item_concepts, space.vectors_),
        image_vectors=image_vectors,
        image_map=ImageTextMap.load(images_dir) if image_vectors is not None else None,
    )
    if content.pictures is not None and not content.pictures.is_content and content.context is not None:
        content.context = replace(content.context, image_vectors=content.pictures.vectors)
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
        state.rating = load_rating_model(src / RATING_DIR)
    # -- end rating model
    if image_vectors is not None:
        state.picture_dir = images_dir
    for profile in artifacts.load_profiles(src):
        state.profiles[state.add_user(profile.user_id)] = profile
    return config, state


def _save_pictures(directory: Path, state: FittedState) -> None:
    """Picture vectors, the map, and a small JPEG per item that has a picture (named by row)."""
    from PIL import Image

    pictures = state.item_pictures
    if pictures is None:
        return
    artifacts.save_array(directory, "vectors", pictures.vectors)
    if pictures.map is not None:
        pictures.map.save(directory)
    for row in np.flatnonzero(pictures.has).tolist():
        target = directory / f"{row}.jpg"
        if target.is_file() and state.picture_dir == directory:
            continue
        data = state.picture(row)
        if data is None:
            continue
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                img.convert("RGB").save(target, format="JPEG", quality=85)
        except (OSError, ValueError):
            continue  # encoded once, unreadable now (file changed): the page shows no picture


def _save_context(directory: Path, context: SignalContext) -> None:
    """The fitted signals as computed (see :func:`_load_context`)."""
    model: Any = context.collaborative
    n_fitted = context.n_items
    if isinstance(model, PaddedModel):
        n_fitted, model = model.n_fitted, model.model
    meta: dict[str, Any] = {
        "n_fitted": n_fitted,
        "interest_half_life": context.interest_half_life,
        "interest_temperature": context.interest_temperature,
        "n_recent": context.n_recent,
        "recency": context.recency,
        "max_dislikes": context.max_dislikes,
    }
    if isinstance(model, EASE):
        meta["collaborative"] = {"kind": "ease", "l2": model.l2}
        artifacts.save_array(directory, "ease_weights", model.weights_)
    elif isinstance(model, ItemKNN):
        meta["collaborative"] = {"kind": "itemknn", "k": model.k, "shrink": model.shrink}
        artifacts.save_sparse(directory, "itemknn_similarity", model.similarity_)
    elif model is None:
        meta["collaborative"] = None
    else:  # a model this format cannot hold: loading refits the signals instead
        return
    artifacts.save_sparse(directory, "transition", context.transition)
    artifacts.save_array(directory, "log_popularity", context.log_popularity)
    if context.propagation is not None:
        artifacts.save_sparse(directory, "propagation", context.propagation)
    (directory / "context.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _load_context(
    directory: Path, item_vectors: FloatArray, item_concepts: ItemConcepts, space_vectors: FloatArray
) -> SignalContext | None:
    """The saved signal context (None for artifacts that predate ``signals/``: refit then)."""
    path = directory / "context.json"
    if not path.is_file():
        return None
    meta = json.loads(path.read_text(encoding="utf-8"))
    n_items = int(item_vectors.shape[0])
    spec = meta["collaborative"]
    model: Any = None
    if spec is not None and spec["kind"] == "ease":
        model = EASE.from_weights(artifacts.load_array(directory, "ease_weights", mmap=True), l2=spec["l2"])
    elif spec is not None and spec["kind"] == "itemknn":
        similarity = artifacts.load_sparse(directory, "itemknn_similarity")
        model = ItemKNN.from_similarity(similarity, k=spec["k"], shrink=spec["shrink"])
    elif spec is not None:
        raise artifacts.ArtifactError(f"{path}: unknown collaborative kind {spec['kind']!r}")
    n_fitted = int(meta["n_fitted"])
    if model is not None and n_fitted < n_items:  # items added after fitting have no behaviour yet
        model = PaddedModel(model, n_fitted, n_items)
    propagation = artifacts.load_sparse(directory, "propagation") if (directory / "propagation.npz").is_file() else None
    return SignalContext(
        item_vectors=item_vectors,
        item_concepts=item_concepts,
        concept_index=item_concepts.index_of(),
        propagation=propagation,
        collaborative=model,
        transition=artifacts.load_sparse(directory, "transition"),
        log_popularity=artifacts.load_array(directory, "log_popularity"),
        space_vectors=space_vectors,
        interest_half_life=float(meta["interest_half_life"]),
        interest_temperature=float(meta["interest_temperature"]),
        n_recent=int(meta["n_recent"]),
        recency=float(meta["recency"]),
        max_dislikes=int(meta["max_dislikes"]),
    )


def _load_sequential(directory: Path, content: Any) -> Any:
    """The saved sequence model, set as ``content.context``'s ``sequential`` scorer."""
    from interestlm.models.seqrec import SeqRec, SeqRecScorer

    model = SeqRec.load(directory)
    scorer = SeqRecScorer(model)
    n_fitted, n_items = model.n_items_, len(content.catalog)
    if n_fitted > n_items:
        raise artifacts.ArtifactError(f"{directory}: the model has {n_fitted} items, the catalog {n_items}")
    if n_fitted < n_items:  # items added after fitting, saved with the catalog
        pictures = content.pictures.vectors[n_fitted:] if content.pictures is not None else None
        scorer = scorer.with_items(
            content.item_vectors[n_fitted:], content.item_concepts.matrix[n_fitted:], pictures
        )
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
