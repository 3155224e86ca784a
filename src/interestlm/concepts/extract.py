"""Weighted concepts of every item: structured catalog fields plus phrases mined from its text.

Sources, and the kind each gives (:data:`~interestlm.core.schema.CONCEPT_KINDS`):

* ``Catalog.categories`` -> ``config.category_kind`` (``"category"``; pass ``"genre"`` for
  MovieLens, whose categories are genres);
* ``Catalog.brands`` -> ``"brand"``; ``Catalog.attributes`` -> ``"attribute"`` (numeric S3-Rec ids
  are named ``"attribute 261"``);
* ``Catalog.tags`` -> ``"tag"`` (a tag repeated in an item's tuple weighs more);
* TF-IDF n-grams of the item text -> ``"keyphrase"``.

A title is a name, not a description: *The Social Network* is not about "social" or "network",
and *Drop Zone* shares nothing with *The Drop*. So a phrase found only in an item's title (not in
its description, reviews or fields) becomes a concept of that item only when it recurs in the
titles of at least ``title_min_items`` items that are alike in everything else (their fields and
the rest of their text): a franchise or series name ("star wars", "dragon ball"), or a product
type in a catalogue of products ("nitrile gloves"). Phrases from the rest of the text are
TF-IDF keyphrases as before, minus the pieces of the item's own field values (its genres and
tags already say them) and the labels of the text template ("Tags:", "Reviews:").

Names are normalised (:func:`~interestlm.concepts.names.normalise_name`), so the same name from
two sources is one concept, of the most structured kind. Near-duplicates are merged too: names
that differ only in spacing, accents or a plural ``s`` (:func:`~interestlm.core.names.spelling_key`);
a mined phrase that names nearly the same items as another concept (``cooccurrence_threshold``,
Jaccard: "doragon bôru" and "dragon ball" are one series' two names); and, with an encoder,
names whose embeddings are close (cosine >= ``merge_threshold``).

Why one file over 400 lines: the concept sources and their merge rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.cluster.hierarchy import DisjointSet
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer, TfidfVectorizer

from interestlm.concepts.names import KIND_PRIORITY, OPAQUE_KINDS, STRUCTURED_KINDS
from interestlm.core.names import normalise_name, spelling_key
from interestlm.core.schema import ItemConcepts
from interestlm.core.tables import Catalog
from interestlm.core.types import FloatArray
from interestlm.encode import Encoder


@dataclass(frozen=True, kw_only=True)
class ConceptConfig:
    """Settings of :func:`extract_concepts`.

    Weights are per source kind, in ``(0, 1]``: an item's concept weight is the base weight of its
    kind (tags: ``tag_weight * (1 - 0.5 ** count)``; keyphrases: ``keyphrase_weight`` times the
    phrase's TF-IDF value over the item's largest kept one). Tags and keyphrases on fewer than
    ``min_item_count`` items are dropped; structured concepts are always kept.

    A phrase that an item's text holds only in its title is kept for that item when at least
    ``title_min_items`` titles hold it and those items are alike: the mean cosine between their
    field-and-text profiles (IDF-weighted fields and non-title phrases) is at least
    ``title_min_coherence``, and at least twice that of two items drawn at random. A catalog whose
    items have nothing but titles falls back on recurrence alone.

    Merging: ``merge_spellings`` joins names with the same
    :func:`~interestlm.core.names.spelling_key`; ``merge_cooccurring`` joins a mined phrase
    with a concept whose items overlap it with Jaccard >= ``cooccurrence_threshold`` (both on at
    least ``cooccurrence_min_items`` items); an encoder adds pairs with cosine >= ``merge_threshold``.
    Two structured concepts never merge.

    ``lm_thin_items`` (off by default) lets a language model add concepts at fit time to items
    with fewer than ``lm_min_concepts`` concepts: up to ``lm_max_concepts`` names chosen from the
    vocabulary concepts nearest the item (:mod:`interestlm.concepts.lm`), at weight ``lm_weight``,
    for at most ``lm_max_items`` items (those with the fewest concepts first). ``interestlm fit
    --lm local|http`` turns it on.
    """

    max_keyphrases: int = 5
    ngram_range: tuple[int, int] = (1, 3)
    min_df: int = 2
    max_df: float = 0.3
    max_vocabulary: int = 200_000
    merge_threshold: float = 0.92
    category_kind: str = "category"
    category_weight: float = 1.0
    brand_weight: float = 1.0
    attribute_weight: float = 1.0
    tag_weight: float = 1.0
    keyphrase_weight: float = 0.6
    min_item_count: int = 2
    batch_size: int = 256
    lm_thin_items: bool = False
    lm_min_concepts: int = 2
    lm_max_concepts: int = 3
    lm_max_items: int = 500
    lm_weight: float = 0.5
    title_min_items: int = 3
    title_min_coherence: float = 0.3
    merge_spellings: bool = True
    merge_cooccurring: bool = True
    cooccurrence_threshold: float = 0.8
    cooccurrence_min_items: int = 3

    def __post_init__(self) -> None:
        if self.category_kind not in ("genre", "category"):
            raise ValueError(f"ConceptConfig.category_kind must be 'genre' or 'category', got {self.category_kind!r}")
        lo, hi = self.ngram_range
        if not 1 <= lo <= hi:
            raise ValueError(f"ConceptConfig.ngram_range must satisfy 1 <= low <= high, got {self.ngram_range}")
        if self.max_keyphrases < 0:
            raise ValueError(f"ConceptConfig.max_keyphrases must be >= 0, got {self.max_keyphrases}")
        if self.min_df < 1:
            raise ValueError(f"ConceptConfig.min_df must be >= 1, got {self.min_df}")
        if not 0.0 < self.max_df <= 1.0:
            raise ValueError(f"ConceptConfig.max_df must be in (0, 1], got {self.max_df}")
        if not -1.0 <= self.merge_threshold <= 1.0:
            raise ValueError(f"ConceptConfig.merge_threshold must be a cosine in [-1, 1], got {self.merge_threshold}")
        for name in ("category_weight", "brand_weight", "attribute_weight", "tag_weight", "keyphrase_weight"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"ConceptConfig.{name} must be in (0, 1], got {value}")
        if self.min_item_count < 1:
            raise ValueError(f"ConceptConfig.min_item_count must be >= 1, got {self.min_item_count}")
        if self.max_vocabulary < 1 or self.batch_size < 1:
            raise ValueError("ConceptConfig.max_vocabulary and batch_size must be positive")
        if self.lm_min_concepts < 1 or self.lm_max_concepts < 1 or self.lm_max_items < 0:
            raise ValueError(
                "ConceptConfig needs lm_min_concepts >= 1, lm_max_concepts >= 1 and lm_max_items >= 0, got "
                f"{self.lm_min_concepts}, {self.lm_max_concepts}, {self.lm_max_items}"
            )
        if not 0.0 < self.lm_weight <= 1.0:
            raise ValueError(f"ConceptConfig.lm_weight must be in (0, 1], got {self.lm_weight}")
        if self.title_min_items < 2:
            raise ValueError(f"ConceptConfig.title_min_items must be >= 2, got {self.title_min_items}")
        if not -1.0 <= self.title_min_coherence <= 1.0:
            raise ValueError(
                f"ConceptConfig.title_min_coherence must be a cosine in [-1, 1], got {self.title_min_coherence}"
            )
        if not 0.0 < self.cooccurrence_threshold <= 1.0:
            raise ValueError(
                f"ConceptConfig.cooccurrence_threshold must be a Jaccard in (0, 1], got {self.cooccurrence_threshold}"
            )
        if self.cooccurrence_min_items < 1:
            raise ValueError(f"ConceptConfig.cooccurrence_min_items must be >= 1, got {self.cooccurrence_min_items}")


def extract_concepts(
    catalog: Catalog,
    *,
    texts: Sequence[str] | None = None,
    encoder: Encoder | None = None,
    config: ConceptConfig | None = None,
) -> ItemConcepts:
    """Concepts of every catalog item (see the module doc); ``texts`` default to title + description.

    Concepts are ordered by kind (as in ``CONCEPT_KINDS``), then by name. ``vectors`` is set (the
    encoder's embeddings of the kept names) only when an ``encoder`` is given.
    """
    cfg = config if config is not None else ConceptConfig()
    n_items = len(catalog)
    if texts is None:
        texts = [f"{t}\n{d}" for t, d in zip(catalog.titles, catalog.descriptions, strict=True)]
    elif len(texts) != n_items:
        raise ValueError(f"texts has {len(texts)} rows, the catalog has {n_items} items")

    acc = _Accumulator()
    _add_structured(acc, catalog, cfg)
    mentions = _add_keyphrases(acc, texts, catalog.titles, cfg)
    names, kinds = acc.names, acc.kinds
    matrix = _max_matrix(acc.rows(), acc.cols(), acc.weights(), (n_items, len(names)))

    # Keyphrases are the bulk of the names, and a rare one is noise: drop them before paying to embed them.
    keep = _frequent_or_structured(matrix, kinds, cfg.min_item_count, only_kind="keyphrase")
    names, kinds, matrix = _select(names, kinds, matrix, keep)

    pairs: list[_Pairs] = []
    if cfg.merge_spellings:
        pairs.append(_spelling_pairs(names, kinds))
    if cfg.merge_cooccurring:
        support = _support(matrix, names, mentions)
        pairs.append(_cooccurring_pairs(support, kinds, cfg.cooccurrence_threshold, cfg.cooccurrence_min_items))
    vectors: FloatArray | None = None
    if encoder is not None:
        vectors = np.asarray(encoder.encode(names, batch_size=cfg.batch_size), dtype=np.float32)
        if vectors.shape[0] != len(names):
            raise ValueError(f"encoder returned {vectors.shape[0]} vectors for {len(names)} concept names")
        pairs.append(_embedding_pairs(vectors, kinds, cfg.merge_threshold))
    names, kinds, matrix, vectors = _merge_near_duplicates(names, kinds, matrix, vectors, pairs)

    keep = _frequent_or_structured(matrix, kinds, cfg.min_item_count, only_kind=None)
    order = sorted(np.flatnonzero(keep).tolist(), key=lambda c: (KIND_PRIORITY[kinds[c]], names[c]))
    names = [names[c] for c in order]
    kinds = [kinds[c] for c in order]
    cols = np.asarray(order, dtype=np.int64)
    matrix = sp.csr_matrix(matrix[:, cols], dtype=np.float32)
    matrix.sort_indices()
    if vectors is not None:
        vectors = np.ascontiguousarray(vectors[cols])
    return ItemConcepts(names=names, kinds=kinds, matrix=matrix, vectors=vectors)


# --------------------------------------------------------------------------- sources


class _Accumulator:
    """(item, concept, weight) triples; a name met again keeps one index and the strongest kind."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.names: list[str] = []
        self.kinds: list[str] = []
        self._rows: list[int] = []
        self._cols: list[int] = []
        self._weights: list[float] = []

    def add(self, item: int, name: str, kind: str, weight: float) -> None:
        if not name:
            return
        c = self.index.get(name)
        if c is None:
            c = self.index[name] = len(self.names)
            self.names.append(name)
            self.kinds.append(kind)
        elif KIND_PRIORITY[kind] < KIND_PRIORITY[self.kinds[c]]:
            self.kinds[c] = kind
        self._rows.append(item)
        self._cols.append(c)
        self._weights.append(weight)

    def rows(self) -> npt.NDArray[np.int64]:
        return np.asarray(self._rows, dtype=np.int64)

    def cols(self) -> npt.NDArray[np.int64]:
        return np.asarray(self._cols, dtype=np.int64)

    def weights(self) -> FloatArray:
        return np.asarray(self._weights, dtype=np.float32)

    def names_by_item(self, n_items: int) -> list[set[str]]:
        """The names given to each item so far."""
        out: list[set[str]] = [set() for _ in range(n_items)]
        for i, c in zip(self._rows, self._cols, strict=True):
            out[i].add(self.names[c])
        return out

    def binary(self, n_items: int) -> sp.csr_matrix:
        """Items x names so far, 1 where the item has the name."""
        m = sp.csr_matrix(
            (np.ones(len(self._rows), dtype=np.float32), (self.rows(), self.cols())),
            shape=(n_items, len(self.names)),
            dtype=np.float32,
        )
        m.data[:] = 1.0
        return m


def _attribute_name(value: str) -> str:
    value = value.strip()
    return f"attribute {value}" if value.isdigit() else normalise_name(value)


def _add_structured(acc: _Accumulator, catalog: Catalog, cfg: ConceptConfig) -> None:
    for i in range(len(catalog)):
        for category in catalog.categories[i]:
            acc.add(i, normalise_name(category), cfg.category_kind, cfg.category_weight)
        if catalog.brands[i]:
            acc.add(i, normalise_name(catalog.brands[i]), "brand", cfg.brand_weight)
        for attribute in catalog.attributes[i]:
            acc.add(i, _attribute_name(attribute), "attribute", cfg.attribute_weight)
        counts: dict[str, int] = {}
        for tag in catalog.tags[i]:
            name = normalise_name(tag)
            if name:
                counts[name] = counts.get(name, 0) + 1
        for name, count in counts.items():
            acc.add(i, name, "tag", cfg.tag_weight * (1.0 - 0.5**count))


#: Characters that end a phrase: an n-gram never spans them.
_PHRASE_BREAK = re.compile(r"[.,;:!?()\[\]{}\"|/\\<>\n\r\t]+")

#: Field labels of the item text template (:func:`interestlm.text.item_text`) at a line start:
#: words of the template, not of the item.
_TEMPLATE_LABEL = re.compile(r"^[ \t]*(?:categories|genres|tags|brand|attributes|reviews)[ \t]*:", re.I | re.M)

#: A title phrase needs items this many times more alike than two items drawn at random.
_COHERENCE_LIFT = 2.0

#: A single word from titles must head a sequel or a subtitle in this many of them.
_MIN_SERIES_TITLES = 2

#: What follows a series name in a title: a number ("Shrek 2"), a roman one ("Saw II"), a word
#: that counts instalments ("Part", "Vol."), a dash; a colon ("Alien: Resurrection") ends the name itself.
_SEQUEL_MARK = re.compile(
    r"^(?:\d{1,3}|ii|iii|iv|v|vi|vii|viii|ix|x|part|vol|volume|chapter|episode|[-\u2013\u2014])\W*$", re.I
)


#: Words that never start or end a mined phrase: English stop words; contractions as
#: :func:`normalise_name` writes them ("aren't" -> "arent"); and the small talk of reviews, which
#: says how the writer felt, not what the item is ("great price", "works fine", "nice product").
_EDGE_WORDS: frozenset[str] = ENGLISH_STOP_WORDS | frozenset(
    {
        "arent", "isnt", "wasnt", "werent", "dont", "doesnt", "didnt", "cant", "couldnt", "wouldnt", "shouldnt",
        "wont", "im", "ive", "youre", "youve", "youll", "youd", "hes", "shes", "thats", "theres", "theyre",
        "theyve", "weve", "whats", "lets", "hasnt", "havent", "hadnt", "aint", "great", "good", "nice",
        "excellent", "awesome", "amazing", "perfect", "best", "better", "poor", "terrible", "product",
        "products", "item", "items", "purchase", "purchased", "buy", "bought", "buying", "price", "priced",
        "money", "worth", "recommend", "recommended", "really", "pretty", "just", "like", "liked", "love",
        "loved", "use", "used", "using", "works", "worked", "job", "fine", "ok", "okay", "easy", "lot", "lots",
        "thing", "things", "stuff", "definitely", "highly", "quite", "bit", "overall",
    }
)


def _keyphrase_analyzer(ngram_range: tuple[int, int]) -> Callable[[str], list[str]]:
    lo, hi = ngram_range
    stop = _EDGE_WORDS

    def runs(text: str) -> Iterator[list[str]]:
        for chunk in _PHRASE_BREAK.split(unicodedata.normalize("NFKC", text).lower()):
            run: list[str] = []
            for tok in normalise_name(chunk).split():
                # Numbers (years above all) and one-letter tokens are no concepts, and break phrases.
                if len(tok) < 2 or tok.isdigit():
                    if run:
                        yield run
                    run = []
                else:
                    run.append(tok)
            if run:
                yield run

    def analyse(text: str) -> list[str]:
        out: list[str] = []
        for run in runs(text):
            for n in range(lo, min(hi, len(run)) + 1):
                for start in range(len(run) - n + 1):
                    gram = run[start : start + n]
                    # A phrase may hold stop words inside ("beauty and the beast") but not at its ends.
                    if gram[0] in stop or gram[-1] in stop:
                        continue
                    out.append(" ".join(gram))
        return out

    return analyse


def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def _title_in_text(title: str, text: str) -> bool:
    """Whether ``text`` holds ``title`` (the template writes it first, or a description starts with it)."""
    t = _squash(title)
    return bool(t) and t in _squash(text)


def _add_keyphrases(
    acc: _Accumulator, texts: Sequence[str], titles: Sequence[str], cfg: ConceptConfig
) -> dict[str, npt.NDArray[np.int32]]:
    """Add each item's keyphrases to ``acc``; return, per phrase added, the items whose text holds it."""
    n_docs = len(texts)
    if cfg.max_keyphrases == 0 or n_docs == 0 or cfg.max_df * n_docs < cfg.min_df:
        return {}
    docs = [_TEMPLATE_LABEL.sub("\n", t) for t in texts]
    if not any(d.strip() for d in docs):
        return {}
    analyzer = _keyphrase_analyzer(cfg.ngram_range)
    vectorizer = TfidfVectorizer(
        analyzer=analyzer,
        min_df=cfg.min_df,
        max_df=cfg.max_df,
        max_features=cfg.max_vocabulary,
        sublinear_tf=True,
        dtype=np.float32,
    )
    try:
        tfidf = sp.csr_matrix(vectorizer.fit_transform(docs))
    except ValueError as exc:
        # Too little text for min_df/max_df to leave any phrase: no keyphrases, not an error.
        if "no terms remain" in str(exc) or "empty vocabulary" in str(exc):
            return {}
        raise
    vocab = np.empty(len(vectorizer.vocabulary_), dtype=object)
    for term, j in vectorizer.vocabulary_.items():
        vocab[j] = term
    in_text, in_title, in_body = _title_and_body(analyzer, vectorizer.vocabulary_, docs, titles)
    own = acc.names_by_item(n_docs)
    structured_names = {name for name, kind in zip(acc.names, acc.kinds, strict=True) if kind in STRUCTURED_KINDS}
    content = _content_profiles(acc.binary(n_docs), in_body, cfg.min_df)
    series = _series_heads(titles, vectorizer.vocabulary_, in_title.shape)
    recurring = _recurring_title_phrases(in_title, content, cfg.title_min_items, cfg.title_min_coherence)
    # A single title word is a name only where it is the head of a series ("Shrek 2", "Saw II"):
    # "like", "just", "mother" recur in titles of alike films, yet name nothing.
    single = _n_tokens(vocab) == 1
    recurring &= ~single | (series.getnnz(axis=0) >= _MIN_SERIES_TITLES)

    n_tokens = _n_tokens(vocab)
    indptr, indices, data = tfidf.indptr, tfidf.indices, tfidf.data
    k = cfg.max_keyphrases
    added: set[int] = set()
    for i in range(n_docs):
        start, end = indptr[i], indptr[i + 1]
        if start == end:
            continue
        row_idx, row_val = indices[start:end], data[start:end]
        body = set(in_body.indices[in_body.indptr[i] : in_body.indptr[i + 1]].tolist())
        own_fields = [f" {name} " for name in own[i]]
        # Phrases that take one of the item's k places: those chosen, and pieces of its own field
        # values ("comedy" of its tag "dark comedy"), which the fields already give it.
        taken: list[str] = []
        chosen: list[tuple[str, float]] = []
        # Ties (a phrase as rare as its words) go to the longer phrase: "time travel" over "time".
        lengths = n_tokens[row_idx]
        for j in np.lexsort((row_idx, -lengths, -np.round(row_val, 5))).tolist():
            term = int(row_idx[j])
            name = str(vocab[term])
            # Only in the title: a name, not a description, unless it recurs in like items' titles;
            # and a structured value (a genre, a brand) comes from the fields, never from a title.
            if term not in body and (not recurring[term] or name in structured_names):
                continue
            padded = f" {name} "
            # A phrase inside (or around) one already taken repeats it: "star" next to "star wars".
            if any(padded in t or t in padded for t in taken):
                continue
            taken.append(padded)
            if not any(padded in f for f in own_fields):
                chosen.append((name, float(row_val[j])))
                added.add(term)
            if len(taken) == k:
                break
        if chosen:
            # Relative to the item's best phrase, so long descriptions do not dilute every weight.
            scale = cfg.keyphrase_weight / max(v for _, v in chosen)
            for name, value in chosen:
                acc.add(i, name, "keyphrase", scale * value)
    by_term = sp.csc_matrix(in_text)
    return {str(vocab[t]): by_term.indices[by_term.indptr[t] : by_term.indptr[t + 1]] for t in sorted(added)}


def _n_tokens(vocab: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """Number of words of each phrase."""
    return np.fromiter((str(term).count(" ") + 1 for term in vocab), dtype=np.int64, count=len(vocab))


def _series_heads(titles: Sequence[str], vocabulary: dict[str, int], shape: tuple[int, int]) -> sp.csr_matrix:
    """Items x phrases, 1 where the title has the (single-word) phrase right before a sequel mark."""
    rows: list[int] = []
    cols: list[int] = []
    for i, title in enumerate(titles):
        words = unicodedata.normalize("NFKC", title).split()
        for w, word in enumerate(words):
            following = words[w + 1] if w + 1 < len(words) else ""
            ends_name = word.endswith(":") or bool(following and _SEQUEL_MARK.match(following))
            tokens = normalise_name(word).split()
            if ends_name and tokens:
                j = vocabulary.get(tokens[-1])
                if j is not None:
                    rows.append(i)
                    cols.append(j)
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape, dtype=np.float32)
    m.data[:] = 1.0
    return m


def _title_and_body(
    analyzer: Callable[[str], list[str]], vocabulary: dict[str, int], docs: Sequence[str], titles: Sequence[str]
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """Items x phrases, 1 where the text holds the phrase, where its title does, where the rest does."""
    counter = CountVectorizer(analyzer=analyzer, vocabulary=vocabulary, dtype=np.int32)
    in_text = sp.csr_matrix(counter.transform(docs))
    # A title the text does not hold (texts given by the caller) tells nothing about the text.
    title_docs = [t if _title_in_text(t, d) else "" for t, d in zip(titles, docs, strict=True)]
    in_title = sp.csr_matrix(counter.transform(title_docs))
    body = sp.csr_matrix(in_text - in_title)
    body.data = np.maximum(body.data, 0)
    body.eliminate_zeros()
    for m in (in_text, in_title, body):
        m.data[:] = 1
        m.sort_indices()
    return in_text, in_title, body


def _idf_columns(m: sp.csr_matrix) -> sp.csr_matrix:
    n = m.shape[0]
    df = m.getnnz(axis=0)
    idf = (np.log((n + 1) / (df + 1)) + 1.0).astype(np.float32)
    return sp.csr_matrix(m @ sp.diags(idf), dtype=np.float32)


def _content_profiles(fields: sp.csr_matrix, body: sp.csr_matrix, min_df: int) -> sp.csr_matrix:
    """Unit rows of IDF-weighted field values and non-title phrases (shared by >= ``min_df`` items)."""
    shared = np.flatnonzero(body.getnnz(axis=0) >= min_df)
    parts = [_idf_columns(fields.astype(np.float32)), _idf_columns(sp.csr_matrix(body[:, shared], dtype=np.float32))]
    x = sp.csr_matrix(sp.hstack(parts), dtype=np.float32)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(inv.astype(np.float32)) @ x, dtype=np.float32)


def _mean_pair_cosine(squared: npt.NDArray[np.float64], counts: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Mean cosine over the pairs of a set of unit vectors, from their sum's squared norm and count."""
    pairs = (counts * (counts - 1)).astype(np.float64)
    out = np.full(len(counts), -np.inf, dtype=np.float64)
    np.divide(squared - counts, pairs, out=out, where=pairs > 0)
    return out


def _recurring_title_phrases(
    in_title: sp.csr_matrix, content: sp.csr_matrix, min_items: int, min_coherence: float
) -> npt.NDArray[np.bool_]:
    """Phrases in the titles of >= ``min_items`` items that are alike (see :class:`ConceptConfig`)."""
    title_df = in_title.getnnz(axis=0)
    out = np.zeros(in_title.shape[1], dtype=bool)
    candidates = np.flatnonzero(title_df >= min_items)
    if len(candidates) == 0:
        return out
    has = np.asarray(content.getnnz(axis=1) > 0)
    if not has.any():
        # Nothing but titles to go on: recurrence is the only evidence there is.
        out[candidates] = True
        return out
    total = np.asarray(content.sum(axis=0), dtype=np.float64).ravel()
    m = np.asarray([has.sum()], dtype=np.int64)
    baseline = float(_mean_pair_cosine(np.asarray([total @ total]), m)[0])
    members = sp.csr_matrix(in_title[:, candidates].T, dtype=np.float32) @ sp.diags(has.astype(np.float32))
    members = sp.csr_matrix(members)
    members.eliminate_zeros()
    sums = sp.csr_matrix(members @ content)
    squared = np.asarray(sums.multiply(sums).sum(axis=1), dtype=np.float64).ravel()
    coherence = _mean_pair_cosine(squared, members.getnnz(axis=1).astype(np.int64))
    out[candidates] = coherence >= max(min_coherence, _COHERENCE_LIFT * baseline)
    return out


# --------------------------------------------------------------------------- matrix helpers


def _max_matrix(
    rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], weights: FloatArray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR from triples where a repeated (row, col) keeps its largest weight (clipped into (0, 1])."""
    if len(rows) == 0:
        return sp.csr_matrix(shape, dtype=np.float32)
    key = rows * max(shape[1], 1) + cols
    order = np.lexsort((-weights, key))
    key_sorted = key[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = key_sorted[1:] != key_sorted[:-1]
    sel = order[first]
    values = np.clip(weights[sel], np.float32(1e-6), np.float32(1.0)).astype(np.float32)
    return sp.csr_matrix((values, (rows[sel], cols[sel])), shape=shape, dtype=np.float32)


def _item_counts(matrix: sp.csr_matrix) -> npt.NDArray[np.int64]:
    return np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.int64)


def _frequent_or_structured(
    matrix: sp.csr_matrix, kinds: list[str], min_item_count: int, *, only_kind: str | None
) -> npt.NDArray[np.bool_]:
    counts = _item_counts(matrix)
    keep = np.ones(len(kinds), dtype=bool)
    for c, kind in enumerate(kinds):
        if counts[c] == 0:
            keep[c] = False
        elif kind not in STRUCTURED_KINDS and (only_kind is None or kind == only_kind):
            keep[c] = counts[c] >= min_item_count
    return keep


def _select(
    names: list[str], kinds: list[str], matrix: sp.csr_matrix, keep: npt.NDArray[np.bool_]
) -> tuple[list[str], list[str], sp.csr_matrix]:
    cols = np.flatnonzero(keep)
    return (
        [names[c] for c in cols],
        [kinds[c] for c in cols],
        sp.csr_matrix(matrix[:, cols], dtype=np.float32),
    )


# --------------------------------------------------------------------------- near-duplicate merge

#: Candidate merges ``(a, b)`` of concept indices, strongest first.
_Pairs = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


def similar_pairs(
    vectors: FloatArray, candidates: npt.NDArray[np.int64], threshold: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]:
    """Pairs ``a < b`` among ``candidates`` (rows of unit ``vectors``) with cosine >= ``threshold``.

    Exact inner-product range search (faiss), blocked internally: memory grows with the number of
    pairs found, never with ``len(candidates) ** 2``.
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(candidates) < 2:
        return empty, empty.copy(), np.zeros(0, dtype=np.float32)
    x = np.ascontiguousarray(vectors[candidates], dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    # faiss keeps results strictly above the radius; nudge it so cosine == threshold counts.
    lims, sims, ids = index.range_search(x, float(threshold) - 1e-6)
    bounds = np.asarray(lims, dtype=np.int64)
    counts = bounds[1:] - bounds[:-1]
    query = np.repeat(np.arange(len(candidates), dtype=np.int64), counts)
    ids = ids.astype(np.int64)
    mask = (ids > query) & (sims >= threshold - 1e-6)
    return candidates[query[mask]], candidates[ids[mask]], sims[mask].astype(np.float32)


def _mergeable(kinds: list[str]) -> npt.NDArray[np.bool_]:
    return np.array([k not in OPAQUE_KINDS for k in kinds], dtype=bool)


def _spelling_pairs(names: list[str], kinds: list[str]) -> _Pairs:
    """Names with one :func:`spelling_key` ("sci fi" / "scifi", "zombie" / "zombies")."""
    first: dict[str, int] = {}
    a: list[int] = []
    b: list[int] = []
    usable = _mergeable(kinds)
    for c, name in enumerate(names):
        if not usable[c]:
            continue
        key = spelling_key(name)
        if key in first:
            a.append(first[key])
            b.append(c)
        else:
            first[key] = c
    return np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)


def _support(
    matrix: sp.csr_matrix, names: list[str], mentions: dict[str, npt.NDArray[np.int32]]
) -> sp.csr_matrix:
    """Items x concepts, 1 where the item has the concept or its text holds the concept's phrase.

    An item keeps only its best few phrases, so two names of one thing need not be chosen for the
    same items even where the same texts hold both.
    """
    rows = [matrix.tocoo().row.astype(np.int64)]
    cols = [matrix.tocoo().col.astype(np.int64)]
    for c, name in enumerate(names):
        items = mentions.get(name)
        if items is not None:
            rows.append(items.astype(np.int64))
            cols.append(np.full(len(items), c, dtype=np.int64))
    r, k = np.concatenate(rows), np.concatenate(cols)
    support = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, k)), shape=matrix.shape, dtype=np.float32)
    support.data[:] = 1.0
    return support


def _cooccurring_pairs(support: sp.csr_matrix, kinds: list[str], threshold: float, min_items: int) -> _Pairs:
    """A keyphrase and a keyphrase or tag whose item sets overlap with Jaccard >= ``threshold``, highest first.

    Two names of one thing (a title and its transliteration, a series and its original title) are
    found in the same items. Field values are the data's own vocabulary: two of them never merge on
    overlap alone, and a structured one (a genre) is broader than any phrase that happens to cover
    the same few items ("night shift", a series of dramas, is not "drama").
    """
    matrix = support
    counts = _item_counts(matrix)
    structured = np.array([k in STRUCTURED_KINDS for k in kinds], dtype=bool)
    usable = _mergeable(kinds) & ~structured & (counts >= min_items)
    mined = usable & np.array([k == "keyphrase" for k in kinds], dtype=bool)
    cols_mined, cols_usable = np.flatnonzero(mined), np.flatnonzero(usable)
    empty = np.zeros(0, dtype=np.int64)
    if len(cols_mined) == 0 or len(cols_usable) < 2:
        return empty, empty.copy()
    binary = sp.csc_matrix(matrix, dtype=np.float32, copy=True)
    binary.data[:] = 1.0
    overlap = sp.coo_matrix(binary[:, cols_mined].T @ binary[:, cols_usable])
    a, b = cols_mined[overlap.row], cols_usable[overlap.col]
    both = overlap.data.astype(np.float64)
    jaccard = both / (counts[a] + counts[b] - both)
    # A pair of two keyphrases appears twice (a, b) and (b, a): keep one.
    ok = (a != b) & (jaccard >= threshold - 1e-9) & ~(mined[b] & (b < a))
    a, b, jaccard = a[ok], b[ok], jaccard[ok]
    order = np.lexsort((b, a, -jaccard))
    return a[order], b[order]


def _embedding_pairs(vectors: FloatArray, kinds: list[str], threshold: float) -> _Pairs:
    usable = _mergeable(kinds) & (np.linalg.norm(vectors, axis=1) > 0)
    a, b, sims = similar_pairs(vectors, np.flatnonzero(usable).astype(np.int64), threshold)
    order = np.lexsort((b, a, -sims))
    return a[order], b[order]


def _merge_near_duplicates(
    names: list[str], kinds: list[str], matrix: sp.csr_matrix, vectors: FloatArray | None, pairs: list[_Pairs]
) -> tuple[list[str], list[str], sp.csr_matrix, FloatArray | None]:
    """Union-find over the candidate pairs, in order; a group holds at most one structured concept."""
    n = len(names)
    structured = np.array([k in STRUCTURED_KINDS for k in kinds], dtype=bool)
    sets = DisjointSet(range(n))
    has_structured = structured.copy()
    merged_any = False
    for a, b in pairs:
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            ra, rb = sets[x], sets[y]
            # Two structured concepts are distinct by the data's own definition ("action" vs "adventure").
            if ra == rb or (has_structured[ra] and has_structured[rb]):
                continue
            sets.merge(ra, rb)
            has_structured[sets[ra]] = has_structured[ra] or has_structured[rb]
            merged_any = True
    if not merged_any:
        return names, kinds, matrix, vectors

    counts = _item_counts(matrix)
    groups: dict[int, list[int]] = {}
    for c in range(n):
        groups.setdefault(sets[c], []).append(c)
    col_map = np.empty(n, dtype=np.int64)
    new_names: list[str] = []
    new_kinds: list[str] = []
    reps: list[int] = []
    for g, members in enumerate(groups.values()):
        padded = [f" {names[c]} " for c in members]
        # The structured member names the group; else a name not inside another member's ("dragon
        # ball", not "ball"); of the most person-written kind (a tag over a keyphrase); the name most
        # items use; one in plain letters (a transliteration's accents read as foreign); the
        # shortest; A-Z.
        part_of = {c: any(p != q and p in q for q in padded) for c, p in zip(members, padded, strict=True)}
        rep = min(
            members,
            key=lambda c: (
                not structured[c],
                part_of[c],
                KIND_PRIORITY[kinds[c]],
                -counts[c],
                not names[c].isascii(),
                len(names[c]),
                names[c],
            ),
        )
        kind = kinds[rep] if structured[rep] else min((kinds[c] for c in members), key=KIND_PRIORITY.__getitem__)
        col_map[members] = g
        new_names.append(names[rep])
        new_kinds.append(kind)
        reps.append(rep)
    coo = matrix.tocoo()
    merged = _max_matrix(
        coo.row.astype(np.int64), col_map[coo.col], coo.data.astype(np.float32), (matrix.shape[0], len(new_names))
    )
    new_vectors = None if vectors is None else np.ascontiguousarray(vectors[np.asarray(reps, dtype=np.int64)])
    return new_names, new_kinds, merged, new_vectors


__all__ = ["ConceptConfig", "extract_concepts", "similar_pairs"]
