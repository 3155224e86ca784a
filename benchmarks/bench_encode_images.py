"""Picture encoding throughput: interestlm's EfficientNet-Lite0 on onnxruntime against the same
network run in torch, on the same posters, alternated run by run (the machine is shared).

Usage: python benchmarks/bench_encode_images.py [--images DIR] [--n 600] [--torch-n 100] [--repeats 3]

Both include reading and decoding the JPEG files and resizing to 224x224. The exported ONNX file
is made before timing (once per machine, outside the measurement). Writes
``benchmarks/results/multimodal/encode_images.json`` with every run, the medians and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from interestlm.encode.image import _MEAN, _STD, SIZE, EfficientNetLiteEncoder, decode_many
from interestlm.testing import shared_data

OUT = Path(__file__).parent / "results" / "multimodal" / "encode_images.json"


def torch_rate(paths: list[str], threads: int) -> float:
    """Images per second of the network in torch (eval mode, no grad), batches of 32."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from interestlm.encode.image import _weights_path

    torch.set_num_threads(threads)
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(_weights_path())).eval()
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(paths), 32):
            decoded = [p for p, _ in decode_many(paths[i : i + 32], SIZE) if p is not None]
            x = ((np.stack(decoded).astype(np.float32) - _MEAN) / _STD).transpose(0, 3, 1, 2)
            net._avg_pooling(net.extract_features(torch.from_numpy(np.ascontiguousarray(x)))).flatten(1)
    return len(paths) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=None, help="default: the shared movielens-posters folder")
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--torch-n", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    folder = args.images or shared_data("movielens-posters")
    paths = sorted(str(p) for p in folder.iterdir() if p.suffix == ".jpg")[: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        encoder = EfficientNetLiteEncoder(model_dir=tmp, threads=args.threads)
        t0 = time.perf_counter()
        encoder.session()
        export_seconds = time.perf_counter() - t0
        ours, theirs = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            encoder.encode_images(paths)
            ours.append(len(paths) / (time.perf_counter() - start))
            theirs.append(torch_rate(paths[: args.torch_n], args.threads))
    result = {
        "images": len(paths),
        "torch_images": args.torch_n,
        "threads": args.threads,
        "export_and_session_seconds": export_seconds,
        "onnxruntime_images_per_second": ours,
        "torch_images_per_second": theirs,
        "median_onnxruntime": statistics.median(ours),
        "median_torch": statistics.median(theirs),
        "ratio": statistics.median(ours) / statistics.median(theirs),
        "goal_images_per_second": 40,
        "load_average": os.getloadavg(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
