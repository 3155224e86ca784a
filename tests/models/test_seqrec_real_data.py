"""Quality bands of the content-aware sequence model on real data (integration tier).

Amazon 2018 Scientific (UniSRec files), leave-one-out, with a random 10 % of the catalogue held
out of training, so some test targets are items no model saw. A short training (a few epochs on
one thread) already separates the two models: the ID-only SASRec cannot rank a held-out item at
all, while seqrec reads each item from its concepts (categories, brand, keyphrases of its text).
The bands sit well below what a full run reaches (``benchmarks/SEQREC.md``: concepts only,
converged, NDCG@10 0.0770 vs SASRec 0.0659; Recall@10 on unseen targets 0.060 vs 0).
"""

from __future__ import annotations

from typing import Any

import pytest

from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import EvaluationConfig, evaluate_fitted, fit_model, make_split
from interestlm.evaluate.split import hold_out_items
from interestlm.testing import shared_data

pytestmark = pytest.mark.integration

SHORT = {"epochs": 8, "eval_every": 2, "patience": 2, "num_threads": 2, "verbose": False}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    root = shared_data("amazon-2018-scientific-unisrec").parent
    dataset = load_dataset("scientific", data_root=root)
    split = hold_out_items(make_split(dataset, "loo"), 0.1, seed=0)
    models = {
        "sasrec": SHORT,
        "seqrec": {**SHORT, "text": False, "item_id": False, "n_experts": 1, "similarity": "cos"},
    }
    config = EvaluationConfig(split="loo", ks=(10,), seed=0, models=models)
    out = {}
    for name in models:
        model, model_config, seconds = fit_model(dataset, split, name, config)
        out[name] = evaluate_fitted(dataset, split, name, model, model_config, seconds, config)
    return out


def test_content_model_beats_id_only_sasrec_overall(results: dict[str, dict[str, Any]]) -> None:
    seq, sas = results["seqrec"]["metrics"], results["sasrec"]["metrics"]
    assert seq["ndcg@10"] >= 0.05 and seq["ndcg@10"] > sas["ndcg@10"], (seq["ndcg@10"], sas["ndcg@10"])
    assert seq["recall@10"] > sas["recall@10"], (seq["recall@10"], sas["recall@10"])


def test_only_the_content_model_recommends_items_it_never_saw(results: dict[str, dict[str, Any]]) -> None:
    cold = {name: r["slices"]["cold_items"] for name, r in results.items()}
    warm = results["seqrec"]["slices"]["warm_items"]["metrics"]["recall@10"]
    assert cold["seqrec"]["n_users"] > 500  # test targets among the held-out tenth of the catalogue
    assert cold["sasrec"]["metrics"]["recall@10"] == 0.0
    # Chance among ~4,400 items is ~0.002. Measured after this short run: 0.029 vs warm 0.118
    # (ratio 0.24); a converged run reaches 0.53.
    assert cold["seqrec"]["metrics"]["recall@10"] >= max(0.01, 0.15 * warm), (cold["seqrec"]["metrics"], warm)
