"""The encoder protocol: text in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from interestlm.core.types import FloatArray


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into unit vectors; ``model_id`` names the model (it keys the vector cache)."""

    @property
    def model_id(self) -> str:
        """Stable identifier of the model and its settings."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> FloatArray:
        """Vectors of shape ``(len(texts), dim)``, float32, each row L2-normalised (or all zero)."""
        ...


def l2_normalise(x: npt.NDArray[np.floating]) -> FloatArray:
    """Rows scaled to unit length; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: FloatArray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0).astype(np.float32)
    return out


class LazyEncoder:
    """An encoder built on first use: loading a saved recommender need not start a model session
    (0.5 s for the ONNX MiniLM) until a new item or a text profile needs encoding."""

    def __init__(self, factory: Callable[[], Encoder]) -> None:
        self._factory = factory
        self._encoder: Encoder | None = None

    def __getstate__(self) -> dict[str, Any]:
        # A copy sent to another process (a Ray worker) builds its own encoder there on first use:
        # a model session cannot be pickled (issue 23.2).
        return {"_factory": self._factory, "_encoder": None}

    def get(self) -> Encoder:
        """The wrapped encoder (built now if it was not yet)."""
        if self._encoder is None:
            self._encoder = self._factory()
        return self._encoder

    @property
    def model_id(self) -> str:
        """The wrapped encoder's ``model_id``."""
        return self.get().model_id

    @property
    def dim(self) -> int:
        """The wrapped encoder's ``dim``."""
        return self.get().dim

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> FloatArray:
        """The wrapped encoder's vectors for ``texts``."""
        return self.get().encode(texts, batch_size=batch_size, progress=progress)
