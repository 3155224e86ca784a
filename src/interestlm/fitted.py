"""What ``Recommender.fit`` learns, as one typed object, and the pipeline that builds it.

items -> text -> vectors & concepts -> concept graph -> profiles -> signals -> learned fusion.

:class:`FittedState` is the recommender's whole fitted state; :func:`fit_state` builds it from
training data, :func:`content_state` rebuilds everything but the learned ranking from saved parts
(``interestlm.fitted_io`` reads and writes it as an artifacts directory). Catalogue growth after
fitting (:meth:`FittedState.add_items`) splices new items into every part at once.

Why one file over 400 lines: the fit pipeline reads top to bottom in data-flow order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm import parallel  # engine hook (issue 23.2)
from interestlm.concepts import build_concept_graph, extract_concepts
from interestlm.concepts.lm import enrich_thin_items
from interestlm.concepts.match import concept_rows_for
from interestlm.config import RecommenderConfig
from interestlm.core.errors import BadInputError, UnknownIdError
from interestlm.core.progress import note, step
from interestlm.core.protocol import EvalTask, TrainData, history_matrix
from interestlm.core.schema import ConceptGraph, History, InterestProfile, ItemConcepts
from interestlm.core.tables import Catalog, Dataset, Interactions
from interestlm.core.types import FloatArray, IntArray
from interestlm.data.growth import grow_catalog
from interestlm.encode import Encoder, LazyEncoder, make_encoder
from interestlm.encode.align import ImageTextMap, blend
from interestlm.encode.image import ImageEncoder, ImageSource, ImageVectors, make_image_encoder
from interestlm.lm import Generator, make_lm
from interestlm.models.ease import EASE
from interestlm.models.rating import ratings_from_interactions
from interestlm.models.rating_fused import FusedRating, ItemFeaturizer, RatingBlend
from interestlm.models.rating_stack import fit_interest_stack
from interestlm.profiles import ProfileBuilder, ProfileConfig, ReviewSentiment, histories_from_interactions
from interestlm.profiles.space import ItemSpace
from interestlm.rank import Ranker, SignalContext, fit_ranker
from interestlm.rank.signals import Collaborative, SequenceScorer
from interestlm.retrieve import FaissIndex
from interestlm.retrieve.candidates import CandidateStage
from interestlm.text import item_texts, review_snippets

if TYPE_CHECKING:
    from interestlm.models.seqrec import SeqRec


@dataclass(kw_only=True, eq=False)
class ItemPictures:
    """The items' pictures as the recommender uses them (see ``RecommenderConfig.image_content``).

    ``vectors`` has one unit row per item (zero: no picture); ``map`` places a picture in the
    text space (None when too few items had both); ``failures`` are the (row, reason) of files
    that could not be decoded (their items are treated as picture-less).
    """

    vectors: FloatArray
    map: ImageTextMap | None
    encoder_factory: Callable[[], ImageEncoder]
    failures: list[tuple[int, str]] = field(default_factory=list)
    #: True when the pictures are the item vectors (``image_content = "only"``).
    is_content: bool = False
    _encoder: ImageEncoder | None = None

    @property
    def has(self) -> npt.NDArray[np.bool_]:
        """Which items have a picture (derived from ``vectors`` once: they are replaced, never mutated)."""
        cached = self.__dict__.get("_has")
        if cached is None or cached[0] is not self.vectors:
            cached = (self.vectors, np.linalg.norm(self.vectors, axis=1) > 0)
            self.__dict__["_has"] = cached
        out: npt.NDArray[np.bool_] = cached[1]
        return out

    def encode(self, sources: Sequence[ImageSource]) -> ImageVectors:
        """Vectors of new pictures (the encoder is started on first use)."""
        if self._encoder is None:
            self._encoder = self.encoder_factory()
        return self._encoder.encode_images(sources)


@dataclass(kw_only=True, eq=False)
class FittedState:
    """Everything a fitted recommender knows (read it; change it only through the Recommender).

    ``catalog``, ``item_texts``, ``item_vectors`` and ``item_concepts`` share the item index;
    ``train`` holds the training interactions and ``histories[u]`` user ``u``'s history built from
    them (live events are applied to ``profiles`` only); ``ranker`` carries the signal context and
    the learned fusion; ``sequential`` the trained sequence model when configured.
    """

    catalog: Catalog
    train: Interactions
    user_ids: list[str]
    user_index: dict[str, int]
    encoder: Encoder
    item_texts: list[str]
    item_vectors: FloatArray
    item_concepts: ItemConcepts
    graph: ConceptGraph
    sentiment: ReviewSentiment | None
    builder: ProfileBuilder
    histories: list[History]
    ranker: Ranker
    space: ItemSpace
    sequential: SeqRec | None = None
    #: The rating model behind ``Recommender.predict`` (None when the data have no ratings or
    #: ``config.rating_model`` is off).
    rating: RatingBlend | FusedRating | None = None
    lm_concepts: dict[str, Any] | None = None
    #: The items' pictures (None when the catalogue has none or ``config.image_content`` is
    #: "off"). ``picture_dir`` holds saved thumbnails by item row; ``pictures`` the bytes of
    #: pictures given to ``add_items`` since.
    item_pictures: ItemPictures | None = None
    picture_dir: Path | None = None
    pictures: dict[int, bytes] = field(default_factory=dict)
    profiles: dict[int, InterestProfile] = field(default_factory=dict)
    unmatched_concepts: int = 0
    _item_index: dict[str, int] | None = None
    _faiss: FaissIndex | None = None

    # ------------------------------------------------------------------ lookups
    def user(self, user_id: str) -> int:
        """Row of a known user (``UnknownIdError`` otherwise)."""
        try:
            return self.user_index[user_id]
        except KeyError:
            raise UnknownIdError(f"unknown user id {user_id!r}") from None

    def item(self, item_id: str) -> int:
        """Row of ``item_id`` in the catalog (``UnknownIdError`` when absent)."""
        if self._item_index is None or len(self._item_index) != len(self.catalog):
            self._item_index = self.catalog.index_of()
        try:
            return self._item_index[item_id]
        except KeyError:
            raise UnknownIdError(f"unknown item id {item_id!r}") from None

    def add_user(self, user_id: str) -> int:
        """Row of ``user_id``, adding an empty history for a new one."""
        if user_id not in self.user_index:
            self.user_index[user_id] = len(self.user_ids)
            self.user_ids.append(user_id)
            self.histories.append(_empty_history())
        return self.user_index[user_id]

    def faiss(self) -> FaissIndex:
        """An exact inner-product index over the item vectors (rebuilt when the catalogue grew)."""
        if self._faiss is None or len(self._faiss) != len(self.catalog):
            self._faiss = FaissIndex(self.item_vectors)
        return self._faiss

    # ------------------------------------------------------------------ catalogue growth
    def picture(self, item: int) -> bytes | None:
        """The picture of item row ``item`` (thumbnail saved with the artifacts, a picture given to
        ``add_items``, or the catalogue's file when fitted in this process), None without one."""
        if item in self.pictures:
            return self.pictures[item]
        if self.item_pictures is None or not 0 <= item < len(self.catalog) or not self.item_pictures.has[item]:
            return None
        if self.picture_dir is not None:
            path = self.picture_dir / f"{item}.jpg"
            return path.read_bytes() if path.is_file() else None
        source = self.catalog.images[item]
        try:
            return Path(source).read_bytes() if source else None
        except OSError:
            return None

    # ------------------------------------------------------------------ catalogue growth
    def add_items(self, items: Sequence[Mapping[str, Any]]) -> list[int]:
        """Add or update items; every part of the state takes them at once (see ``Recommender.add_items``).

        An item's ``image`` (a file path or the picture's bytes) is encoded at once: it feeds the
        ``visual`` signal, and an item whose only text is its title is placed in the text space
        halfway between its title and its picture (through the learned picture -> text map).
        """
        sources: dict[str, ImageSource] = {}
        plain: list[Mapping[str, Any]] = []
        for raw in items:
            image = raw.get("image")
            if isinstance(image, bytes | str | Path) and image:
                sources[str(raw.get("item_id", "")).strip()] = image
                raw = {**raw, "image": image if isinstance(image, str | Path) else "(uploaded)"}
            plain.append(raw)
        growth = grow_catalog(self.catalog, plain)
        catalog, changed, n_old = growth.catalog, growth.changed, len(self.catalog)
        texts = item_texts(catalog.take(np.asarray(changed, dtype=np.int64)), reviews=None)
        vectors = self.encoder.encode(texts)
        images, picture_bytes = self._new_pictures(catalog, changed, sources)
        if images is not None and self.item_pictures is not None:
            if self.item_pictures.map is not None:
                thin = [
                    j
                    for j, i in enumerate(changed)
                    if not (catalog.descriptions[i] or catalog.categories[i] or catalog.tags[i])
                ]
                vectors[thin] = blend(vectors[thin], self.item_pictures.map(images[thin]))
            if self.item_pictures.is_content:
                vectors = images
        rows, unmatched = concept_rows_for(self.item_concepts, catalog, changed)
        self.unmatched_concepts += unmatched
        new = [j for j, i in enumerate(changed) if i >= n_old]
        old = [j for j, i in enumerate(changed) if i < n_old]
        self.item_texts = list(self.item_texts) + [""] * (len(catalog) - n_old)
        for i, t in zip(changed, texts, strict=True):
            self.item_texts[i] = t
        item_vectors = np.vstack([self.item_vectors, vectors[new]]) if new else self.item_vectors.copy()
        matrix = sp.vstack([self.item_concepts.matrix, rows[new]]).tolil() if new else self.item_concepts.matrix.tolil()
        for j in old:
            item_vectors[changed[j]] = vectors[j]
            matrix[changed[j]] = rows[j]
        self.catalog = catalog
        self.item_vectors = item_vectors.astype(np.float32)
        self.item_concepts = replace(self.item_concepts, matrix=matrix.tocsr().astype(np.float32))
        picture_rows: FloatArray | None = None
        if self.item_pictures is not None:
            dim = self.item_pictures.vectors.shape[1]
            grown = np.vstack([self.item_pictures.vectors, np.zeros((len(new), dim), np.float32)])
            if images is not None:
                for j, i in enumerate(changed):
                    if np.any(images[j]):
                        grown[i] = images[j]
            # Replaced, not mutated: the service stages growth on a shallow copy of the served state.
            self.item_pictures = replace(self.item_pictures, vectors=grown)
            self.pictures = {**self.pictures, **picture_bytes}
            picture_rows = grown[n_old:]
        self.space = self.space.with_items(vectors[new]) if new else self.space
        context = self.ranker.context
        if new:
            context = context.with_items(
                vectors[new],
                rows[new],
                space_vectors=self.space.vectors_[n_old:],
                image_vectors=picture_rows,
            )
        context = replace(
            context, item_vectors=self.item_vectors, space_vectors=self.space.vectors_, item_concepts=self.item_concepts
        )
        if context.image_vectors is not None and self.item_pictures is not None:
            context = replace(context, image_vectors=self.item_pictures.vectors)
        # The candidate stage (large catalogues) retrieves the new items too: dropping it made
        # every later list rank the whole catalogue.
        stage = self.ranker.candidates
        if stage is not None and changed:
            stage = stage.updated(
                self.item_vectors,
                self.item_concepts,
                self.space.vectors_ if stage.interest_index is not None else None,
                edited=bool(old),
            )
        self.ranker = replace(self.ranker, context=context, candidates=stage)
        config = self.builder.config
        self.builder = profile_builder(self.space, self.item_vectors, self.item_concepts, self.graph, config)
        self._faiss = None
        # -- rating model (issue 26): new items get content rows; edited ones keep theirs until refit
        if self.rating is not None and new:
            self.rating = self.rating.with_items(self.item_vectors[n_old:], self.catalog.categories[n_old:])
        # -- end rating model
        return growth.rows

    def _new_pictures(
        self, catalog: Catalog, changed: Sequence[int], sources: Mapping[str, ImageSource]
    ) -> tuple[FloatArray | None, dict[int, bytes]]:
        """Vectors of the pictures given for the ``changed`` rows (zero rows where none was given;
        one that fails to decode is a ``BadInputError`` naming it) and their bytes by row."""
        if self.item_pictures is None or not sources:
            return None, {}
        ids = [str(catalog.item_ids[i]) for i in changed]
        picked = [j for j, item_id in enumerate(ids) if item_id in sources]
        data: list[bytes] = []
        for j in picked:
            source = sources[ids[j]]
            try:
                data.append(source if isinstance(source, bytes) else Path(source).read_bytes())
            except OSError as exc:
                raise BadInputError(f"item {ids[j]!r}: image {source!r} cannot be read ({exc})") from None
        result = self.item_pictures.encode(data)
        if result.failures:
            j, why = result.failures[0]
            raise BadInputError(f"item {ids[picked[j]]!r}: image {why}")
        out = np.zeros((len(changed), self.item_pictures.vectors.shape[1]), dtype=np.float32)
        kept: dict[int, bytes] = {}
        for n, j in enumerate(picked):
            out[j] = result.vectors[n]
            kept[changed[j]] = data[n]
        return out, kept


def _empty_history() -> History:
    return History(
        items=np.zeros(0, np.int32),
        timestamps=np.zeros(0, np.int64),
        ratings=np.zeros(0, np.float32),
        polarity=np.zeros(0, np.float32),
    )


@dataclass(kw_only=True, eq=False)
class Content:
    """The fitted stages up to the signals: what both fitting and loading build first."""

    catalog: Catalog
    train: Interactions
    encoder: Encoder
    item_texts: list[str]
    item_vectors: FloatArray
    item_concepts: ItemConcepts
    graph: ConceptGraph
    sentiment: ReviewSentiment | None
    space: ItemSpace
    builder: ProfileBuilder
    histories: list[History]
    context: SignalContext
    lm_concepts: dict[str, Any] | None = None
    pictures: ItemPictures | None = None

    @property
    def user_ids(self) -> list[str]:
        """User ids, in the training table's order."""
        return [str(u) for u in self.train.user_ids.tolist()]

    def signal_context(
        self,
        config: RecommenderConfig,
        sequences: Sequence[IntArray],
        *,
        sequential: SequenceScorer | None = None,
        space: ItemSpace | None = None,
        collaborative: Collaborative | None = None,
    ) -> SignalContext:
        """The signal context (collaborative model, transitions, popularity) fitted on ``sequences``;
        the interest signal reads ``space`` (default: this content's); ``collaborative`` overrides
        ``config.collaborative``."""
        return SignalContext.build(
            self.item_vectors,
            self.item_concepts,
            graph=self.graph,
            train_sequences=sequences,
            n_items=len(self.catalog),
            collaborative=collaborative or _collaborative(config.collaborative),
            sequential=sequential,
            space_vectors=(space or self.space).vectors_,
            image_vectors=self.pictures.vectors if self.pictures is not None and not self.pictures.is_content else None,
            interest_half_life=config.interest_half_life,
            interest_temperature=config.interest_temperature,
        )


def profile_builder(
    space: ItemSpace, text_vectors: FloatArray, item_concepts: ItemConcepts, graph: ConceptGraph, config: ProfileConfig
) -> ProfileBuilder:
    """The profile builder: interests clustered in ``space``, the short-term vector over the text
    vectors (what the latest items are about)."""
    return ProfileBuilder(space.vectors_, item_concepts, graph=graph, config=config, short_term_vectors=text_vectors)


def content_state(
    config: RecommenderConfig,
    catalog: Catalog,
    train: Interactions,
    *,
    texts: list[str] | None = None,
    item_vectors: FloatArray | None = None,
    item_concepts: ItemConcepts | None = None,
    graph: ConceptGraph | None = None,
    space: ItemSpace | None = None,
    context: SignalContext | None = None,
    generator: Generator | None = None,
    image_vectors: FloatArray | None = None,
    image_map: ImageTextMap | None = None,
    engine: parallel.Engine = parallel.LOCAL,  # engine hook (issue 23.2)
) -> Content:
    """Every stage up to the signals, computing what was not given (loading gives all of it)."""
    # Built on first use: a loaded recommender encodes only when items are added or text is asked.
    encoder = LazyEncoder(
        lambda: make_encoder(
            config.encoder,
            cache_dir=Path(config.cache_dir) if config.cache_dir else None,
            threads=config.encoder_threads,
        )
    )
    if texts is None:
        # Item text uses training reviews only, so nothing from the held-out period leaks in.
        reviews = review_snippets(train, len(catalog)) if config.reviews_in_text else None
        texts = item_texts(catalog, reviews=reviews)
    pictures = item_pictures(config, catalog, image_vectors, engine=engine)  # engine hook (issue 23.2)
    if item_vectors is None and pictures is not None and pictures.is_content:
        item_vectors = pictures.vectors
    if item_vectors is None:
        with step(f"encode {len(texts):,} item texts ({config.encoder})"):
            # engine hook (issue 23.2): the pipeline's encoder here, its recipe on Ray workers
            cache = parallel.cache_folder(config.cache_dir)
            fn = parallel.EncodeTexts(config.encoder, cache, config.encoder_threads, config.progress, encoder)
            item_vectors = parallel.encode_texts(engine, fn, texts)
    vectors = item_vectors
    if pictures is not None and not pictures.is_content:
        pictures.map = image_map if image_vectors is not None else ImageTextMap.fit(pictures.vectors, vectors)
    lm_concepts: dict[str, Any] | None = None
    if item_concepts is None:
        with step(f"concepts of {len(catalog):,} items"):
            item_concepts = extract_concepts(catalog, texts=texts, encoder=encoder, config=config.concepts)
        if config.concepts.lm_thin_items:
            with step("language-model concepts for thin items"):
                item_concepts, lm_concepts = _lm_concepts(config, catalog, texts, vectors, item_concepts, generator)
    sequences = train.sequences()
    if graph is None:
        with step(f"concept graph ({item_concepts.n_concepts:,} concepts)"):
            graph = build_concept_graph(item_concepts, sequences=sequences, catalog=catalog, config=config.graph)
    sentiment = ReviewSentiment() if config.sentiment_from_reviews and _has_reviews(train) else None
    # Interests are clustered and scored in an item space where similarity predicts behaviour;
    # item_vectors stay the text vectors (short-term intent, dislikes, sequence model, FAISS).
    if space is None:
        with step(f"interest space ({config.space.kind})"):
            space = ItemSpace(config.space).fit(space_input(config, vectors, pictures), sequences)
    content = Content(
        catalog=catalog,
        train=train,
        encoder=encoder,
        item_texts=texts,
        item_vectors=vectors,
        item_concepts=item_concepts,
        graph=graph,
        sentiment=sentiment,
        space=space,
        builder=profile_builder(space, vectors, item_concepts, graph, config.profiles),
        histories=histories_from_interactions(
            train, sentiment=sentiment, rating_scale=config.profiles.rating_scale, levels=config.profiles.rating_levels
        ),
        context=None,  # type: ignore[arg-type]  # set just below: it reads the parts above
        lm_concepts=lm_concepts,
        pictures=pictures,
    )
    if context is None:
        with step(f"signals ({config.collaborative} collaborative model, transitions, popularity)"):
            context = content.signal_context(config, sequences)
    content.context = context
    return content


def space_input(config: RecommenderConfig, vectors: FloatArray, pictures: ItemPictures | None) -> FloatArray:
    """What the interest space is learned from: the text vectors, or with ``config.images_in_space``
    each pictured item halfway between its text and its picture mapped into the text space."""
    if not config.images_in_space or pictures is None or pictures.map is None or pictures.is_content:
        return vectors
    return blend(vectors, pictures.map(pictures.vectors))


def item_pictures(
    config: RecommenderConfig,
    catalog: Catalog,
    vectors: FloatArray | None = None,
    *,
    engine: parallel.Engine = parallel.LOCAL,  # engine hook (issue 23.2)
) -> ItemPictures | None:
    """The catalogue's pictures encoded (or ``vectors`` given, as loading does); None when
    ``config.image_content`` is "off" or no item names a picture. Files that fail to decode are
    reported once, each by path, and their items count as picture-less."""
    if config.image_content == "off" or (vectors is None and not any(catalog.images)):
        return None

    def factory() -> ImageEncoder:
        cache = Path(config.cache_dir) if config.cache_dir else None
        return make_image_encoder(config.image_encoder, cache_dir=cache, threads=config.encoder_threads)

    failures: list[tuple[int, str]] = []
    if vectors is None:
        rows = [i for i, path in enumerate(catalog.images) if path]
        with step(f"encode {len(rows):,} item pictures ({config.image_encoder})"):
            # engine hook (issue 23.2): factory()'s recipe, run in this process or on Ray workers
            cache = parallel.cache_folder(config.cache_dir)
            fn = parallel.EncodeImages(config.image_encoder, cache, config.encoder_threads, config.progress)
            result = parallel.encode_images(engine, fn, [catalog.images[i] for i in rows])
        vectors = np.zeros((len(catalog), result.vectors.shape[1]), dtype=np.float32)
        vectors[rows] = result.vectors
        failures = [(rows[j], why) for j, why in result.failures]
        for row, why in failures[:20]:
            note(f"warning: {catalog.images[row]}: {why}; item {catalog.item_ids[row]} has no picture")
        if failures:
            note(f"warning: {len(failures):,} item pictures could not be decoded")
    return ItemPictures(
        vectors=np.asarray(vectors, dtype=np.float32),
        map=None,
        encoder_factory=factory,
        failures=failures,
        is_content=config.image_content == "only",
    )


def _lm_concepts(
    config: RecommenderConfig,
    catalog: Catalog,
    texts: list[str],
    vectors: FloatArray,
    item_concepts: ItemConcepts,
    generator: Generator | None,
) -> tuple[ItemConcepts, dict[str, Any]]:
    """Thin items' concepts chosen by a language model before the graph and profiles are built;
    what happened (items enriched, replies rejected) is returned to be saved in the manifest."""
    cfg = config.concepts
    gen = generator if generator is not None else Generator(make_lm("auto"))
    return enrich_thin_items(
        item_concepts,
        gen,
        item_vectors=vectors,
        texts=texts,
        item_ids=[str(i) for i in catalog.item_ids.tolist()],
        min_concepts=cfg.lm_min_concepts,
        max_concepts=cfg.lm_max_concepts,
        max_items=cfg.lm_max_items,
        weight=cfg.lm_weight,
    )


def fit_state(
    config: RecommenderConfig,
    data: Dataset | TrainData,
    *,
    valid: EvalTask | None = None,
    generator: Generator | None = None,
    engine: parallel.Engine = parallel.LOCAL,  # engine hook (issue 23.2)
) -> FittedState:
    """Learn everything from training rows; fusion weights from ``valid`` (or a held-out last item).
    ``engine`` runs the parallel stages (encoding, profiles, sequence-model training)."""
    with step(f"fit on {len(data.interactions):,} interactions, {len(data.catalog):,} items"):
        content = content_state(config, data.catalog, data.interactions, generator=generator, engine=engine)
        sequential = None
        if config.sequential:
            with step("sequence model (seqrec)"):
                sequential = _fit_sequential(config, content, valid, engine)
            from interestlm.models.seqrec import SeqRecScorer

            content.context = replace(content.context, sequential=SeqRecScorer(sequential))
        with step("profiles and fusion weights"):
            ranker = learn_ranker(config, content, valid, engine)
        state = finish_state(config, content, ranker, sequential=sequential)
        with step("rating model"):
            state.rating = fit_rating(config, content)
        return state


# ---------------------------------------------------------------------- rating model (issue 26)
def fit_rating(config: RecommenderConfig, content: Content) -> RatingBlend | FusedRating | None:
    """The rating model fitted on the training ratings, with the items' text vectors and
    categories as content: the stack ``interestlm evaluate --task rating`` reports as
    ``interest`` (``models/rating_stack.py``), or its member :class:`FusedRating` alone with
    ``rating_model = "fused"``; None when ``config.rating_model`` is off or no row has a rating."""
    if not config.rating_model or not np.isfinite(content.train.rating).any():
        return None
    ratings, _ = ratings_from_interactions(content.train, len(content.catalog))
    if len(np.unique(ratings.rating)) < 2:
        return None  # a single rating value (e.g. implicit "1"s) teaches no scale
    if config.rating_model == "fused":
        featurizer = ItemFeaturizer().fit(content.item_vectors, content.catalog.categories)
        features = featurizer.transform(content.item_vectors, content.catalog.categories)
        return FusedRating(seed=config.seed).fit(ratings, features=features, featurizer=featurizer)
    return fit_interest_stack(ratings, content.item_vectors, content.catalog.categories, seed=config.seed)
# ---------------------------------------------------------------------- end rating model


def finish_state(
    config: RecommenderConfig, content: Content, ranker: Ranker, *, sequential: SeqRec | None = None
) -> FittedState:
    """The :class:`FittedState` of fitted ``content`` and its ``ranker`` (candidate stage attached)."""
    if len(content.catalog) > config.candidates_above:
        stage = CandidateStage.build(
            content.item_vectors,
            content.item_concepts,
            content.train.sequences(),
            n_candidates=config.n_candidates,
            space_vectors=content.space.vectors_,  # h-scale: interests are searched in their own space
            index_kind=config.candidate_index,  # type: ignore[arg-type]  # validated by RecommenderConfig
        )
        ranker = replace(ranker, candidates=stage, candidates_above=config.candidates_above)
    user_ids = content.user_ids
    return FittedState(
        catalog=content.catalog,
        train=content.train,
        user_ids=user_ids,
        user_index={u: i for i, u in enumerate(user_ids)},
        encoder=content.encoder,
        item_texts=content.item_texts,
        item_vectors=content.item_vectors,
        item_concepts=content.item_concepts,
        graph=content.graph,
        sentiment=content.sentiment,
        builder=content.builder,
        histories=content.histories,
        ranker=ranker,
        space=content.space,
        sequential=sequential,
        lm_concepts=content.lm_concepts,
        item_pictures=content.pictures,
    )


def _fit_sequential(
    config: RecommenderConfig, content: Content, valid: EvalTask | None, engine: parallel.Engine = parallel.LOCAL
) -> SeqRec:
    """Train the sequence model on the recommender's content; it becomes the ``sequential`` signal.

    Early stopping reads ``valid``; without one, the model trains on each user's history without
    its last item and stops on those last items, and keeps that training (the fusion weights are
    learned on the same held-out items, so the signal must not have seen them).
    """
    from interestlm.models.seqrec import ItemContent, SeqRec, concept_bags

    cfg = config.seqrec
    pictures = content.pictures
    item_content = ItemContent(
        text_vectors=content.item_vectors if cfg.text else None,
        image_vectors=pictures.vectors if cfg.image and pictures is not None else None,
        concepts=concept_bags(content.item_concepts.matrix) if cfg.concepts else None,
        n_concepts=content.item_concepts.n_concepts,
    )
    model = SeqRec(cfg, content=item_content)
    train, task = content.train, valid
    if task is None or not len(task):
        train, task = held_out_task(content)
    return engine.fit(model, TrainData(interactions=train, catalog=content.catalog), task)  # engine hook (issue 23.2)


def held_out_last(histories: Sequence[History]) -> tuple[IntArray, list[History], list[IntArray]]:
    """Users with >= 2 training items, their histories without the last item, and that item."""
    users = np.asarray([u for u, h in enumerate(histories) if len(h) >= 2], dtype=np.int32)
    prefixes = [prefix(histories[u], len(histories[u]) - 1) for u in users]
    return users, prefixes, [histories[u].items[-1:] for u in users]


def held_out_task(content: Content) -> tuple[Interactions, EvalTask]:
    """Training rows without each user's last item (users with >= 2), and those items as a task."""
    train = content.train
    order = train.time_order()
    user = train.user[order]
    counts = np.bincount(user, minlength=len(content.histories))
    # Stable time order: a user's last row in that order is their held-out item.
    last = np.zeros(len(order), dtype=bool)
    ends = np.flatnonzero(np.r_[user[1:] != user[:-1], True])
    last[ends] = counts[user[ends]] >= 2
    keep = np.ones(len(order), dtype=bool)
    keep[order[last]] = False
    users, prefixes, targets = held_out_last(content.histories)
    task = EvalTask(
        name="held-out last item",
        users=users,
        histories=[p.items.astype(np.int32) for p in prefixes],
        targets=[t.astype(np.int32) for t in targets],
        exclude=history_matrix([p.items for p in prefixes], len(content.catalog)),
        # Asked for when the held-out item was chosen, as an evaluation split asks.
        times=np.asarray([content.histories[u].timestamps[-1] for u in users], dtype=np.float64),
    )
    return train.select(keep), task


def learn_ranker(
    config: RecommenderConfig, content: Content, valid: EvalTask | None, engine: parallel.Engine = parallel.LOCAL
) -> Ranker:
    """The ranker over ``content.context``, its weights maximising the likelihood of held-out items."""
    rng = np.random.default_rng(config.seed)
    context, builder = content.context, content.builder
    if valid is not None and len(valid):
        users, targets = valid.users, list(valid.targets)
        histories = [content.histories[int(u)] for u in users]
        exclude: sp.csr_matrix | None = valid.exclude
    else:
        # No validation task: hold out each user's last training item (users with >= 2 items).
        users, histories, targets = held_out_last(content.histories)
        exclude = None
        # The interaction signals must not have seen the held-out items: fitted on all rows,
        # EASE scored each user's own last item from that very row, and the learned weights
        # favoured the collaborative signal (+0.67) and punished popularity (-0.70).
        held_out = [prefix(h, len(h) - 1) if len(h) >= 2 else h for h in content.histories]
        sequences = [h.items for h in held_out]
        # The item space too: its coordinates come from co-consumption, held-out items included.
        space = ItemSpace(config.space).fit(space_input(config, content.item_vectors, content.pictures), sequences)
        builder = profile_builder(space, content.item_vectors, content.item_concepts, content.graph, config.profiles)
        context = held_out_context(config, content, sequences, space)
    if len(users) > config.fusion_users:
        rows = np.sort(rng.choice(len(users), config.fusion_users, replace=False))
        users = users[rows]
        targets = [targets[r] for r in rows]
        histories = [histories[r] for r in rows]
        exclude = exclude[rows] if exclude is not None else None
    if exclude is None:
        exclude = history_matrix([h.items for h in histories], len(content.catalog))
    user_ids = content.user_ids
    # engine hook (issue 23.2)
    profiles = parallel.build_profiles(engine, builder, [user_ids[int(u)] for u in users], histories)
    learned = fit_ranker(
        context,
        profiles,
        targets,
        exclude,
        signals=config.signals,
        l2=config.fusion_l2,
        n_candidates=config.fusion_candidates,
        seed=config.seed,
        batch_size=config.batch_size,
    )
    # Ranking reads the context fitted on every training row, with the weights learned above.
    return replace(learned, context=content.context)


def held_out_context(
    config: RecommenderConfig, content: Content, sequences: Sequence[IntArray], space: ItemSpace
) -> SignalContext:
    """The signal context fitted on the held-out ``sequences`` (training histories less their last
    items), interests read in ``space``. An EASE collaborative model comes from the one fitted on
    every row (:meth:`EASE.without`: a cheap refit by its dual solver, or a low-rank update
    instead of a second item x item inverse; scores equal a refit's to float32 rounding)."""
    full = content.context.collaborative
    sequential = content.context.sequential
    if not isinstance(full, EASE) or not hasattr(full, "inverse_diag_"):
        return content.signal_context(config, sequences, sequential=sequential, space=space)
    context = content.signal_context(config, sequences, sequential=sequential, space=space, collaborative="none")
    n_items = len(content.catalog)
    train = history_matrix(content.train.sequences(), n_items)
    return replace(context, collaborative=full.without(train, history_matrix(sequences, n_items)))


def prefix(history: History, n: int) -> History:
    """The first ``n`` rows of ``history``."""
    return History(
        items=history.items[:n],
        timestamps=history.timestamps[:n],
        ratings=history.ratings[:n],
        polarity=history.polarity[:n],
    )


def _collaborative(name: str) -> Collaborative:
    # RecommenderConfig validated the name at construction.
    if name not in ("auto", "ease", "itemknn", "none"):
        raise AssertionError(name)
    return name  # type: ignore[return-value]


def _has_reviews(interactions: Interactions) -> bool:
    return bool(len(interactions)) and any(bool(r) for r in interactions.review[: min(len(interactions), 1000)])
