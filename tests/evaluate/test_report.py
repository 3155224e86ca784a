from pathlib import Path
from typing import Any

from interestlm.evaluate.report import markdown_table, metric_columns, write_report


def _result(model: str, ndcg10: float, slice_users: int = 2) -> dict[str, Any]:
    metrics = {f"{m}@{k}": ndcg10 * k / 10 for m in ("hr", "recall", "ndcg", "mrr") for k in (5, 10)}
    return {
        "dataset": "toy",
        "model": model,
        "split": "loo",
        "n_users": 3,
        "metrics": metrics,
        "seconds": {"fit": 0.5, "evaluate": 0.25},
        "versions": {"numpy": "x"},
        "slices": {"hist_1-4": {"n_users": slice_users, "metrics": metrics}},
    }


def test_markdown_table_has_a_row_per_model_with_values() -> None:
    results = [_result("pop", 0.1), _result("ease", 0.2)]
    assert metric_columns(results) == ["hr@5", "hr@10", "recall@5", "recall@10", "ndcg@5", "ndcg@10", "mrr@5", "mrr@10"]
    table = markdown_table(results).splitlines()
    assert len(table) == 4
    assert "| toy | ease | loo | 3 |" in table[3]
    assert "0.2000" in table[3]


def test_write_report_writes_markdown_and_real_png_plots(tmp_path: Path) -> None:
    report = write_report([_result("pop", 0.1, 40), _result("ease", 0.2, 40)], tmp_path / "r.md")
    text = report.read_text()
    assert "# Evaluation: toy" in text and "## Slices" in text and "| pop | hist_1-4 | 40 |" in text
    for png in ("r_ndcg_at_k.png", "r_slices.png"):
        data = (tmp_path / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        assert png in text


def test_slices_of_a_few_users_are_tabled_not_plotted(tmp_path: Path) -> None:
    report = write_report([_result("pop", 0.1, 4), _result("ease", 0.2, 4)], tmp_path / "r.md")
    text = report.read_text()
    assert "| ease | hist_1-4 | 4 |" in text and "not in the plot" in text
    assert not (tmp_path / "r_slices.png").exists() and "r_slices.png" not in text
