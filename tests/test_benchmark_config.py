"""The benchmark settings (benchmarks/config.toml) and how run_baselines resolves variants."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from run_baselines import MODELS, model_settings, resolve  # noqa: E402


def test_every_variant_in_the_config_resolves_to_a_registered_model() -> None:
    settings = tomllib.loads((BENCHMARKS / "config.toml").read_text(encoding="utf-8"))
    merged = model_settings(settings, "beauty")
    for name in settings["variants"]:
        base, _ = resolve(name, settings, merged)
        assert base in MODELS, name


def test_a_variant_of_a_variant_lays_its_settings_over_the_chain() -> None:
    settings = {
        "models": {"seqrec": {"epochs": 80, "hidden": 64}},
        "variants": {
            "cos": {"of": "seqrec", "similarity": "cos", "hidden": 32},
            "cos-wide": {"of": "cos", "hidden": 128},
        },
    }
    merged = model_settings(settings, "beauty")
    assert resolve("cos-wide", settings, merged) == ("seqrec", {"epochs": 80, "hidden": 128, "similarity": "cos"})
    assert resolve("cos", settings, merged) == ("seqrec", {"epochs": 80, "hidden": 32, "similarity": "cos"})
    assert resolve("seqrec", settings, merged) == ("seqrec", {"epochs": 80, "hidden": 64})


def test_variants_without_a_base_or_in_a_circle_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\[variants.a\] needs of"):
        resolve("a", {"variants": {"a": {"hidden": 1}}}, {})
    circle = {"variants": {"a": {"of": "b"}, "b": {"of": "a"}}}
    with pytest.raises(ValueError, match="circle"):
        resolve("a", circle, {})


def test_seed_zero_keeps_the_unsuffixed_result_name(tmp_path: Path) -> None:
    from run_baselines import result_path

    assert result_path(tmp_path, "beauty", "sasrec", 0) == tmp_path / "beauty__sasrec.json"
    assert result_path(tmp_path, "beauty", "sasrec", 2) == tmp_path / "beauty__sasrec__seed2.json"


def _result(recall: float, ndcg: float, best_epoch: int) -> dict[str, object]:
    return {
        "metrics": {"recall@10": recall, "ndcg@10": ndcg},
        "seconds": {"fit": 10.0},
        "training": {
            "best_epoch": best_epoch,
            "seconds_per_epoch_median": 2.0,
            "history": [{"epoch": float(e), "seconds": 2.0} for e in range(1, best_epoch + 3)],
        },
        "device": "cpu",
        "hardware": {"cpu": "test cpu"},
    }


def test_seed_summary_puts_seed_zero_beside_the_other_seeds(tmp_path: Path) -> None:
    import json

    from seed_summary import collect, markdown, summarise

    (tmp_path / "seeds").mkdir()
    (tmp_path / "beauty__sasrec.json").write_text(json.dumps(_result(0.10, 0.05, 4)))
    (tmp_path / "seeds" / "beauty__sasrec__seed1.json").write_text(json.dumps(_result(0.12, 0.07, 6)))
    # A pair with one seed only has nothing to summarise.
    (tmp_path / "toys__sasrec.json").write_text(json.dumps(_result(0.2, 0.1, 3)))
    runs = collect(tmp_path)
    assert list(runs) == ["beauty__sasrec"] and list(runs["beauty__sasrec"]) == [0, 1]
    row = summarise(runs["beauty__sasrec"], ["recall@10", "ndcg@10"])
    assert row["metrics"]["recall@10"]["mean"] == pytest.approx(0.11)
    assert row["metrics"]["ndcg@10"]["std"] == pytest.approx(0.0141421, rel=1e-4)
    assert row["best_epochs"] == [4, 6]
    assert row["seconds_to_best_median"] == pytest.approx(10.0)  # 8 s and 12 s of epochs up to the best
    table = markdown({"beauty__sasrec": row}, ["recall@10", "ndcg@10"])
    assert "| beauty | sasrec | 0, 1 | 0.1100 ± 0.0141 (0.1000-0.1200) |" in table
