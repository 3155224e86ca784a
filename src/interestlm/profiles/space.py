"""The item space profiles live in: similarity there predicts behaviour, and text still reaches it.

MiniLM text vectors say what items are *about*; two items close in that space are often not
consumed by the same people, so interests clustered and scored there did not predict what users
choose next (the learned fusion weight of the ``interest`` signal was 0 on every benchmark). The
adapted space keeps the text as a way in and learns where items sit from co-consumption:

1. ``A``: the binary users x items matrix of the training histories, degree-normalised
   ``D_u^-1/2 A D_i^-1/2`` so that heavy users and popular items do not dominate.
2. A truncated SVD of it (``dim`` components; scikit-learn's randomized solver): item ``i``'s
   collaborative coordinates are ``e_i = V_i s``, so ``e_i . e_j`` approximates the cosine
   co-occurrence of ``i`` and ``j``.
3. A ridge adaptor from the items' text vectors to those coordinates, fitted on items with
   interactions (scikit-learn ``RidgeCV``, the penalty chosen by generalised cross-validation):
   ``t -> t @ coef + intercept``. It gives items without interactions, and text queries, a place.
4. An item's vector blends its own coordinates with the adaptor's prediction by evidence,
   ``unit(w_i unit(e_i) + (1 - w_i) unit(p_i))`` with ``w_i = n_i / (n_i + shrinkage)`` (``n_i`` its
   training users): an item seen once leans on its text, an item without interactions *is* its
   prediction. With ``text_weight > 0`` the unit text vector is appended, ``[sqrt(1 - tw) v,
   sqrt(tw) t]``, so a cosine there is ``1 - tw`` parts behaviour and ``tw`` parts text.

Everything stays readable: the space only moves item vectors; interests keep their items, medoids,
exemplars and concept labels, which come from the items' concepts as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm import artifacts
from interestlm.core.types import FloatArray

F64 = npt.NDArray[np.float64]

#: Artifact names of a saved adapted space (``.npy`` arrays in the recommender's directory).
SPACE_ARRAYS = ("space_vectors", "space_coef", "space_intercept")


@dataclass(frozen=True, kw_only=True)
class SpaceConfig:
    """Where profiles are built and content signals scored (see the module doc).

    ``kind="adapted"`` learns the space from the training interactions; ``kind="text"`` keeps the
    text vectors (the space before this module: what an item is about, not who consumes it).
    ``dim`` caps the SVD components (at most ``min(users, items) - 1`` are used); ``shrinkage`` is
    the number of training users at which an item's own coordinates and its text prediction
    weigh the same; ``alphas`` are the ridge penalties tried; ``text_weight`` the share of text
    similarity kept in the space's cosine.
    """

    kind: Literal["adapted", "text"] = "adapted"
    dim: int = 256
    shrinkage: float = 5.0
    text_weight: float = 0.0
    alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("adapted", "text"):
            raise ValueError(f"SpaceConfig.kind must be 'adapted' or 'text', got {self.kind!r}")
        if self.dim < 1:
            raise ValueError(f"SpaceConfig.dim must be >= 1, got {self.dim}")
        if not (math.isfinite(self.shrinkage) and self.shrinkage >= 0):
            raise ValueError(f"SpaceConfig.shrinkage must be finite and >= 0, got {self.shrinkage}")
        if not 0.0 <= self.text_weight < 1.0:
            raise ValueError(f"SpaceConfig.text_weight must be in [0, 1), got {self.text_weight}")
        if not self.alphas or any(not (math.isfinite(a) and a > 0) for a in self.alphas):
            raise ValueError(f"SpaceConfig.alphas must be positive and finite, got {self.alphas}")


def _unit(x: F64) -> F64:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: F64 = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


def interaction_matrix(sequences: Sequence[npt.NDArray[np.integer]], n_items: int) -> sp.csr_matrix:
    """Binary users x items matrix of ``sequences`` (one row per sequence; repeats count once)."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    items = (
        np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if len(sequences) else np.zeros(0, np.int64)
    )
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"sequences hold items outside [0, {n_items})")
    users = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
    matrix = sp.csr_matrix((np.ones(len(items), np.float64), (users, items)), shape=(len(sequences), n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def behaviour_coordinates(matrix: sp.csr_matrix, dim: int, seed: int) -> F64 | None:
    """Items' collaborative coordinates ``V s`` from the truncated SVD of the degree-normalised
    users x items ``matrix`` (steps 1-2 of the module doc), at most ``dim`` components; None when
    the matrix supports none (fewer than two active users or items)."""
    users = np.asarray(matrix.sum(axis=1)).ravel()
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    k = min(dim, min(int((users > 0).sum()), int((counts > 0).sum())) - 1)
    if k < 1:
        return None
    scaled = sp.diags(1.0 / np.sqrt(np.maximum(users, 1.0))) @ matrix
    scaled = scaled @ sp.diags(1.0 / np.sqrt(np.maximum(counts, 1.0)))
    from sklearn.utils.extmath import randomized_svd  # on first use: importing scikit-learn takes seconds

    _, s, vt = randomized_svd(scaled.tocsr(), k, n_iter=7, random_state=seed)
    coords: F64 = vt.T * s
    return coords


class ItemSpace:
    """Item vectors for profiles and content signals, and the map that places text in the same space.

    Learned attributes after :meth:`fit`: ``vectors_`` (``n_items x dim_``, unit rows; zero for
    an item with neither interactions nor text), ``coef_`` and ``intercept_`` (the text adaptor;
    None for ``kind="text"`` or when there were too few interactions to learn one, and then the
    space is the text space), ``alpha_`` (the ridge penalty chosen), ``n_components_``.
    """

    vectors_: FloatArray
    coef_: FloatArray | None
    intercept_: FloatArray | None
    alpha_: float | None
    n_components_: int

    def __init__(self, config: SpaceConfig | None = None) -> None:
        self.config = config if config is not None else SpaceConfig()

    @property
    def dim_(self) -> int:
        """Dimension of the space's vectors."""
        return int(self.vectors_.shape[1])

    @property
    def adapted(self) -> bool:
        """Whether the space was learned from interactions (else it is the text space)."""
        return self.coef_ is not None

    def fit(self, text_vectors: npt.ArrayLike, sequences: Sequence[npt.NDArray[np.integer]]) -> Self:
        """Learn the space from the items' text vectors and the training histories (one per user)."""
        text = np.asarray(text_vectors, dtype=np.float64)
        if text.ndim != 2:
            raise ValueError(f"text_vectors must be 2-D (n_items x d), got shape {text.shape}")
        cfg = self.config
        self.coef_ = self.intercept_ = None
        self.alpha_ = None
        self.n_components_ = 0
        matrix = interaction_matrix(sequences, text.shape[0])
        coords = None if cfg.kind == "text" else behaviour_coordinates(matrix, cfg.dim, cfg.seed)
        if coords is None:
            # Nothing to learn behaviour from: the space is the text space.
            self.vectors_ = _unit(text).astype(np.float32)
            return self
        from sklearn.linear_model import RidgeCV  # on first use: importing scikit-learn takes seconds

        k = coords.shape[1]
        counts = np.asarray(matrix.sum(axis=0)).ravel()
        warm = counts > 0
        ridge = RidgeCV(alphas=cfg.alphas).fit(text[warm], coords[warm])
        # RidgeCV flattens the coefficients of a single target (k = 1, a tiny log): keep them (d, k).
        self.coef_ = np.asarray(ridge.coef_, dtype=np.float32).reshape(k, -1).T
        self.intercept_ = np.asarray(ridge.intercept_, dtype=np.float32).reshape(-1)
        self.alpha_ = float(ridge.alpha_)
        self.n_components_ = k
        own = counts / (counts + cfg.shrinkage) if cfg.shrinkage > 0 else (counts > 0).astype(np.float64)
        predicted = _unit(text @ self.coef_.astype(np.float64) + self.intercept_.astype(np.float64))
        blended = _unit(own[:, None] * _unit(coords) + (1.0 - own[:, None]) * predicted)
        self.vectors_ = self._with_text(blended, text)
        return self

    def _with_text(self, vectors: F64, text: F64) -> FloatArray:
        tw = self.config.text_weight
        if tw <= 0 or self.coef_ is None:
            return vectors.astype(np.float32)
        return np.hstack([math.sqrt(1.0 - tw) * vectors, math.sqrt(tw) * _unit(text)]).astype(np.float32)

    def embed_text(self, text_vectors: npt.ArrayLike) -> FloatArray:
        """Space vectors of items (or queries) known by their text vectors only: the adaptor's prediction."""
        text = np.asarray(text_vectors, dtype=np.float64)
        single = text.ndim == 1
        text = np.atleast_2d(text)
        if self.coef_ is None or self.intercept_ is None:
            out = _unit(text).astype(np.float32)
        else:
            if text.shape[1] != self.coef_.shape[0]:
                raise ValueError(f"text vectors have {text.shape[1]} dims, the adaptor takes {self.coef_.shape[0]}")
            mapped = _unit(text @ self.coef_.astype(np.float64) + self.intercept_.astype(np.float64))
            out = self._with_text(mapped, text)
        return out[0] if single else out

    def with_items(self, text_vectors: npt.ArrayLike) -> ItemSpace:
        """A copy with items appended (no interactions yet: placed by their text)."""
        new = np.atleast_2d(np.asarray(text_vectors, dtype=np.float32))
        out = ItemSpace(self.config)
        out.coef_, out.intercept_, out.alpha_, out.n_components_ = (
            self.coef_, self.intercept_, self.alpha_, self.n_components_
        )
        out.vectors_ = np.vstack([self.vectors_, self.embed_text(new)]) if len(new) else self.vectors_.copy()
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        """Write the space as ``.npy`` arrays (:data:`SPACE_ARRAYS`; nothing for the text space)."""
        if self.coef_ is None or self.intercept_ is None:
            return
        artifacts.save_array(directory, "space_vectors", self.vectors_)
        artifacts.save_array(directory, "space_coef", self.coef_)
        artifacts.save_array(directory, "space_intercept", self.intercept_)

    @classmethod
    def load(cls, directory: str | Path, config: SpaceConfig, text_vectors: npt.ArrayLike) -> ItemSpace:
        """Read a space written by :meth:`save`; without its arrays, the text space of ``text_vectors``."""
        src = Path(directory)
        out = cls(config)
        out.alpha_ = None
        if not (src / "space_coef.npy").is_file():
            # Saved as the text space (kind "text", or too few interactions to learn from); a file
            # lost since is named by the manifest check.
            out.coef_ = out.intercept_ = None
            out.n_components_ = 0
            out.vectors_ = _unit(np.asarray(text_vectors, dtype=np.float64)).astype(np.float32)
            return out
        out.vectors_ = np.asarray(artifacts.load_array(src, "space_vectors"), dtype=np.float32)
        out.coef_ = np.asarray(artifacts.load_array(src, "space_coef"), dtype=np.float32)
        out.intercept_ = np.asarray(artifacts.load_array(src, "space_intercept"), dtype=np.float32)
        out.n_components_ = int(out.coef_.shape[1])
        n_text = np.asarray(text_vectors).shape[0]
        if out.vectors_.shape[0] != n_text or out.intercept_.shape != (out.n_components_,):
            raise artifacts.ArtifactError(
                f"{src}: the item space has {out.vectors_.shape[0]} items and {out.n_components_} components, "
                f"the catalogue {n_text} items (intercept shape {out.intercept_.shape})"
            )
        return out


__all__ = ["SPACE_ARRAYS", "ItemSpace", "SpaceConfig", "interaction_matrix"]
