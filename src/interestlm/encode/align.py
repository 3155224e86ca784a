"""A learned map from picture vectors to text vectors, so an item known only by its picture lands
near the items whose text reads like it.

Ridge regression (scikit-learn) from the image space to the text space, fitted on the items that
have both; predictions are L2-normalised like every other vector. ``benchmarks/bench_multimodal.py``
measures how often a mapped item's nearest text neighbours share its genres, against chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from interestlm.core.types import FloatArray
from interestlm.encode.base import l2_normalise

#: Fewer items with both a picture and text than this teach no map.
MIN_PAIRS = 50


@dataclass(frozen=True, kw_only=True)
class ImageTextMap:
    """``text ≈ normalise(image @ coef + intercept)``; see :meth:`fit`."""

    coef: FloatArray
    intercept: FloatArray

    @classmethod
    def fit(
        cls, image_vectors: npt.ArrayLike, text_vectors: npt.ArrayLike, *, alpha: float = 1.0
    ) -> ImageTextMap | None:
        """Least squares with an L2 penalty ``alpha`` over the rows where both vectors are non-zero;
        None when fewer than :data:`MIN_PAIRS` rows have both."""
        from sklearn.linear_model import Ridge

        images = np.asarray(image_vectors, dtype=np.float32)
        texts = np.asarray(text_vectors, dtype=np.float32)
        if images.shape[0] != texts.shape[0]:
            raise ValueError(f"image_vectors has {images.shape[0]} rows, text_vectors {texts.shape[0]}")
        both = (np.linalg.norm(images, axis=1) > 0) & (np.linalg.norm(texts, axis=1) > 0)
        if int(both.sum()) < MIN_PAIRS:
            return None
        ridge = Ridge(alpha=alpha).fit(images[both], texts[both])
        return cls(
            coef=np.ascontiguousarray(ridge.coef_.T, dtype=np.float32),
            intercept=np.asarray(ridge.intercept_, dtype=np.float32),
        )

    def __call__(self, image_vectors: npt.ArrayLike) -> FloatArray:
        """Text-space unit vectors of pictures (zero rows stay zero: no picture, no place)."""
        images = np.asarray(image_vectors, dtype=np.float32)
        out = l2_normalise(images @ self.coef + self.intercept)
        out[np.linalg.norm(images, axis=1) == 0] = 0.0
        return out

    def save(self, directory: Path | str) -> None:
        """Write ``align_coef.npy`` and ``align_intercept.npy`` into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "align_coef.npy", self.coef, allow_pickle=False)
        np.save(out / "align_intercept.npy", self.intercept, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path | str) -> ImageTextMap | None:
        """The map saved in ``directory`` (None when there is none)."""
        src = Path(directory)
        if not (src / "align_coef.npy").is_file():
            return None
        return cls(
            coef=np.load(src / "align_coef.npy", allow_pickle=False),
            intercept=np.load(src / "align_intercept.npy", allow_pickle=False),
        )


def blend(text_vectors: npt.ArrayLike, mapped: npt.ArrayLike, *, weight: float = 0.5) -> FloatArray:
    """Unit ``(1 - weight) * text + weight * mapped`` per row; rows without a mapped vector keep their text."""
    text = np.asarray(text_vectors, dtype=np.float32)
    image = np.asarray(mapped, dtype=np.float32)
    has = np.linalg.norm(image, axis=1) > 0
    out = text.copy()
    out[has] = (1.0 - weight) * text[has] + weight * image[has]
    return l2_normalise(out)
