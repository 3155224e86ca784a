"""benchmarks/bench_scale.py's machinery at a tiny size: stages timed and measured, exponents, plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_scale  # noqa: E402


def test_stage_keys_drop_counts_and_details() -> None:
    assert bench_scale.stage_key("encode 9,742 item texts (hashing-256)") == "encode item texts"
    assert bench_scale.stage_key("encode 974,200 item texts (hashing-256)") == "encode item texts"
    assert bench_scale.stage_key("fit on 100,836 interactions, 9,742 items") == "fit"
    assert bench_scale.stage_key("recommend top-10 for 610 users (local, 3 shards)") == "recommend top-k for users"


def test_the_meter_sees_a_stage_s_peak_memory_and_nesting() -> None:
    meter = bench_scale.Meter(interval=0.01)
    try:
        with meter.stage("outer") as outer:
            with meter.stage("inner") as inner:
                block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched, alive when the stage closes
                assert block.sum() > 0
            del block
    finally:
        meter.close()
    assert inner["peak_rss_mb"] - inner["rss_start_mb"] >= 48
    assert outer["peak_rss_mb"] >= inner["peak_rss_mb"]
    assert [r["depth"] for r in meter.records] == [0, 1]
    assert outer["seconds"] >= inner["seconds"] > 0


def test_two_tiny_sizes_give_stages_exponents_recall_and_a_plot(tmp_path: Path) -> None:
    config = {"rating_model": False}
    for scale, users in ((1.0, 40), (2.0, 80)):
        sizes = {"n_users": users, "n_items": 400 * int(scale), "n_interactions": 20 * users, "n_topics": 8}
        # The larger size makes profiles and lists for a sample of 50 users (extrapolated to 80).
        partial = tmp_path / f"partial-{users}.json"
        result = bench_scale.measure(
            scale=scale,
            sizes=sizes,
            engines=("local",),
            config=config,
            max_users=50 if users > 50 else None,
            partial=partial,
        )
        # Rewritten after every stage: a size stopped by its time cap keeps what it finished.
        kept = json.loads(partial.read_text())
        assert kept["partial"] and {r["stage"] for r in kept["stages"]} >= {"generate", "fit", "evaluate"}
        (tmp_path / f"bench_scale_{bench_scale.size_label(scale)}.json").write_text(json.dumps(result))
    assert result["n_users"] == 80 and result["n_interactions"] == 1600 and result["users_ranked"] == 50
    stages = {r["stage"] for r in result["stages"]}
    # The pipeline's own steps are read off its step lines.
    assert {"generate", "fit", "encode item texts", "signals", "profiles (all users)", "recommend (local)"} <= stages
    for r in result["stages"]:
        assert r["seconds"] >= 0 and r["peak_rss_mb"] >= r["rss_start_mb"] > 0
    # Planted structure is recovered far above popularity, below the oracle's ceiling.
    assert result["popularity_recall@10"] < result["planted_recall@10"] <= result["oracle_recall@10"]
    summary = bench_scale.summarise(tmp_path, readme=False)
    assert "fit" in summary["growth_exponents"]
    assert "1x->2x" in summary["growth_exponents"]["fit"]
    assert (tmp_path / "scale.png").stat().st_size > 1000
    text = bench_scale.table(summary)
    assert "| fit |" in text and "| 2x | 80 |" in text
    # Per-user stages of the sampled size are scaled to every user, and marked.
    sampled = next(r for r in result["stages"] if r["stage"] == "recommend (local)")
    total = bench_scale._totals(result)["recommend (local)"]
    assert total["extrapolated"] and total["seconds"] == pytest.approx(sampled["seconds"] * 80 / 50)
    assert "measured on a sample of users" in text
    stopped = {**kept, "scale": 4.0, "timed_out_after_s": 60.0}
    stopped["stages"] = [r for r in kept["stages"] if r["stage"] == "generate"]
    stopped.pop("planted_recall@10", None)
    assert "| 4x (stopped after 60 s) | 80 |" in bench_scale.table({**summary, "sizes": [*summary["sizes"], stopped]})


@pytest.mark.parametrize("times", [(1.0, 10.0, 100.0), (2.0, 200.0, 20_000.0)])
def test_growth_exponents_are_log_log_slopes(times: tuple[float, float, float]) -> None:
    results = [
        {"scale": s, "stages": [{"stage": "x", "seconds": t, "peak_rss_mb": 1, "peak_tree_rss_mb": 1}]}
        for s, t in zip((1.0, 10.0, 100.0), times, strict=True)
    ]
    slope = np.log10(times[2] / times[0]) / 2
    assert bench_scale.growth_exponents(results)["x"]["overall"] == pytest.approx(slope, abs=0.01)


def test_a_size_past_its_memory_cap_stops_and_keeps_what_it_measured(tmp_path: Path) -> None:
    out = tmp_path / "capped.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_scale.py"), "one", "--scale", "1", "--max-rss-gb", "0.05"]
    done = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    kept = json.loads(out.read_text())
    assert kept["partial"] and kept["stopped_by_memory_cap"]["stage"] == "generate"
    assert kept["stopped_by_memory_cap"]["rss_mb"] > 50
