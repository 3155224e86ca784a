"""Text -> L2-normalised float32 vectors: bundled MiniLM (ONNX or sentence-transformers), hashing."""

from interestlm.encode.base import Encoder, l2_normalise
from interestlm.encode.hashing import HashingEncoder

__all__ = ["Encoder", "HashingEncoder", "l2_normalise"]
