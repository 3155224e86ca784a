"""A deterministic, model-free encoder for tests and fast experiments.

Word unigrams and bigrams are hashed straight into ``dim`` signed buckets (the hashing trick),
so texts that share words get similar vectors. No weights, no downloads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from interestlm.core.types import FloatArray
from interestlm.encode.base import l2_normalise


class HashingEncoder:
    """Hashed word n-grams in ``dim`` dimensions; ``seed`` salts the hash (deterministic)."""

    def __init__(self, dim: int = 512, seed: int = 0) -> None:
        if dim <= 0:
            raise ValueError(f"HashingEncoder dim must be positive, got {dim}")
        self._dim = dim
        self.seed = seed
        from sklearn.feature_extraction.text import HashingVectorizer  # on first use (slow import)

        self._analyzer = HashingVectorizer(ngram_range=(1, 2), lowercase=True).build_analyzer()
        # Tokens arrive already salted and split, so the second vectorizer only hashes them.
        self._hasher = HashingVectorizer(
            n_features=dim, analyzer=str.split, alternate_sign=True, norm=None, lowercase=False
        )

    @property
    def model_id(self) -> str:
        """Identifier including the settings that change the vectors."""
        return f"hashing-{self._dim}-seed{self.seed}"

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._dim

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> FloatArray:
        """Unit vectors for ``texts`` (a text without words -> zero vector)."""
        if len(texts) == 0:
            return np.zeros((0, self._dim), dtype=np.float32)
        # Salting every token with the seed gives an independent hash family per seed.
        salted = [" ".join(f"{self.seed}:{tok.replace(' ', '_')}" for tok in self._analyzer(t)) for t in texts]
        return l2_normalise(np.asarray(self._hasher.transform(salted).todense()))
