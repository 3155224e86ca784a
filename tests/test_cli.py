"""The command line, run as a user runs it: a real subprocess of the installed entry point."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from interestlm.data.registry import SAMPLE_DIR
from interestlm.evaluate.runner import EvaluationConfig, run_evaluation
from interestlm.testing import shared_data

CONTRACT_KEYS = {"dataset", "model", "split", "n_users", "metrics", "seconds", "versions"}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interestlm.cli", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_describe_prints_the_shipped_sample_statistics() -> None:
    out = run_cli("describe", "ml-latest-small-sample")
    assert out.returncode == 0, out.stderr
    assert "250" in out.stdout and "38540" in out.stdout.replace(",", "")


def test_evaluate_writes_the_contract_json_and_is_reproducible(tmp_path: Path) -> None:
    args = ["evaluate", "--dataset", "ml-latest-small-sample", "--model", "pop", "itemknn", "--k", "5", "10"]
    first = run_cli(*args, "--json", str(tmp_path / "a.json"), "--report", str(tmp_path / "r.md"))
    assert first.returncode == 0, first.stderr
    second = run_cli(*args, "--json", str(tmp_path / "b.json"))
    assert second.returncode == 0, second.stderr
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    assert a["dataset"] == "ml-latest-small-sample" and a["split"] == "loo" and a["n_users"] == 250
    assert [r["model"] for r in a["runs"]] == ["pop", "itemknn"]
    for run_a, run_b in zip(a["runs"], b["runs"], strict=True):
        assert set(run_a) >= CONTRACT_KEYS
        assert set(run_a["seconds"]) >= {"fit", "evaluate"}
        assert {"hr@10", "ndcg@10", "recall@5", "mrr@10"} <= set(run_a["metrics"])
        assert run_a["metrics"] == run_b["metrics"]
    # item-kNN must beat popularity on MovieLens; a broken ranking would not.
    assert a["runs"][1]["metrics"]["ndcg@10"] > a["runs"][0]["metrics"]["ndcg@10"]
    assert (tmp_path / "r_ndcg_at_k.png").stat().st_size > 5000
    assert "| ml-latest-small-sample | itemknn | loo | 250 |" in (tmp_path / "r.md").read_text()


def test_single_model_json_is_the_contract_object(tmp_path: Path) -> None:
    out = run_cli(
        "evaluate", "--dataset", "ml-latest-small-sample", "--model", "pop", "--json", str(tmp_path / "p.json")
    )
    assert out.returncode == 0, out.stderr
    payload = json.loads((tmp_path / "p.json").read_text())
    assert set(payload) >= CONTRACT_KEYS and payload["model"] == "pop"


def test_malformed_row_is_named_or_skipped_and_counted(tmp_path: Path) -> None:
    data = tmp_path / "mini"
    data.mkdir()
    shutil.copy(SAMPLE_DIR / "movies.csv", data / "movies.csv")
    lines = (SAMPLE_DIR / "ratings.csv").read_text().splitlines()[:400]
    lines[5] = lines[5].rsplit(",", 2)[0] + ",five,964982703"
    (data / "ratings.csv").write_text("\n".join(lines) + "\n")
    out = run_cli("describe", str(data))
    assert out.returncode == 2
    assert "ratings.csv:6" in out.stderr and "rating" in out.stderr
    skipped = run_cli("describe", str(data), "--on-error", "skip")
    assert skipped.returncode == 0, skipped.stderr
    assert "1 malformed rows skipped" in skipped.stderr
    assert "398" in skipped.stdout.replace(",", "")


def test_unknown_model_and_dataset_are_clear_errors() -> None:
    out = run_cli("evaluate", "--dataset", "ml-latest-small-sample", "--model", "nope")
    assert out.returncode == 2 and "nope" in out.stderr and "ease" in out.stderr
    out = run_cli("describe", "no-such-dataset")
    assert out.returncode == 2 and "ml-latest-small" in out.stderr


@pytest.mark.integration
def test_ml_latest_small_baselines_are_exactly_reproducible() -> None:
    from interestlm.data.registry import load_dataset

    dataset = load_dataset("ml-latest-small", data_root=shared_data("ml-latest-small").parent)
    config = EvaluationConfig(ks=(10,), seed=3, slices=False, models={"sasrec": {"epochs": 1, "max_len": 50}})
    first = run_evaluation(dataset, ["pop", "sasrec"], config)
    second = run_evaluation(dataset, ["pop", "sasrec"], config)
    assert [r["metrics"] for r in first] == [r["metrics"] for r in second]
    assert first[0]["n_users"] == 610


def test_fit_sequential_saves_the_model_and_the_profile_reads_it(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[recommender]\nencoder = "hashing"\ncollaborative = "itemknn"\n\n[recommender.seqrec]\n'
        'epochs = 2\nhidden = 16\nn_layers = 1\nmax_len = 20\nnum_threads = 1\nloss = "sampled"\nn_negatives = 64\n'
    )
    out = tmp_path / "art"
    fit = run_cli(
        "fit", "--dataset", "ml-latest-small-sample", "--out", str(out), "--config", str(config), "--sequential"
    )
    assert fit.returncode == 0, fit.stderr
    assert "sequential" in fit.stdout  # the learned fusion weights table names the signal
    assert (out / "seqrec" / "model.safetensors").is_file() and (out / "seqrec" / "config.json").is_file()
    user = json.loads((out / "seqrec" / "meta.json").read_text())  # inspectable JSON beside the weights
    assert user["n_items"] > 0
    from interestlm import artifacts

    user_id = str(artifacts.load_table(out, "users")["user_id"][0])
    profile = run_cli("profile", "--artifacts", str(out), "--user", user_id)
    assert profile.returncode == 0, profile.stderr
    payload = json.loads(profile.stdout)
    assert len(payload["sequential_intent"]["next_items"]) == 5
