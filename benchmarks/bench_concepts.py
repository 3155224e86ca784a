"""Speed and size of concept extraction and the concept graph on real datasets.

For each dataset and encoder ("none": no embedding merge or similarity edges; "minilm": the
bundled int8 MiniLM), times ``extract_concepts`` and ``build_concept_graph`` (with the users'
sequences and the catalog) and counts concepts by kind and edges by type. Writes
``benchmarks/results/speed/bench_concepts.json`` with hardware and versions.

Usage: python benchmarks/bench_concepts.py [--datasets ml-latest-small beauty] [--encoders none minilm]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from interestlm.concepts import ConceptConfig, build_concept_graph, extract_concepts
from interestlm.data.registry import load_dataset
from interestlm.encode import make_encoder
from interestlm.evaluate.runner import hardware, versions

HERE = Path(__file__).resolve().parent
#: Datasets whose categories are genres (flat labels), not category paths.
GENRE_DATASETS = {"ml-latest-small", "ml-latest-small-sample", "ml-100k"}


def run(dataset_name: str, encoder_name: str, threads: int) -> dict[str, Any]:
    data = load_dataset(dataset_name)
    encoder = None if encoder_name == "none" else make_encoder(encoder_name, threads=threads)
    config = ConceptConfig(category_kind="genre" if dataset_name in GENRE_DATASETS else "category")
    t0 = time.perf_counter()
    concepts = extract_concepts(data.catalog, encoder=encoder, config=config)
    t1 = time.perf_counter()
    sequences = data.interactions.sequences()
    t2 = time.perf_counter()
    graph = build_concept_graph(concepts, sequences=sequences, catalog=data.catalog)
    t3 = time.perf_counter()
    return {
        "dataset": data.name,
        "encoder": "none" if encoder is None else encoder.model_id,
        "n_items": data.n_items,
        "n_interactions": len(data.interactions),
        "n_concepts": concepts.n_concepts,
        "concepts_by_kind": dict(Counter(concepts.kinds)),
        "item_concept_nnz": int(concepts.matrix.nnz),
        "edges_by_type": {t: int(m.nnz) for t, m in graph.edges.items()},
        "adjacency_nnz": int(graph.adjacency.nnz),
        "seconds": {"extract": round(t1 - t0, 2), "graph": round(t3 - t2, 2), "total": round(t1 - t0 + t3 - t2, 2)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["ml-latest-small", "beauty"])
    parser.add_argument("--encoders", nargs="+", default=["none", "minilm"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    runs = []
    for dataset in args.datasets:
        for encoder in args.encoders:
            result = run(dataset, encoder, args.threads)
            print(json.dumps(result))
            runs.append(result)
    out = HERE / "results" / "speed" / "bench_concepts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "concepts",
        "runs": runs,
        "hardware": hardware(),
        "versions": versions(),
        "note": "one run each on a shared 2-core machine (other benchmarks running)",
    }
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
