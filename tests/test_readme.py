"""The README is executable: its library snippet runs as written on the shipped sample, and the
command-line lines that read saved artifacts run against what it saved."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str, section: str) -> list[str]:
    """The fenced ``language`` blocks under the ``## section`` heading of the README."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else len(text)]
    return re.findall(rf"```{language}\n(.*?)```", body, flags=re.S)


@pytest.fixture(scope="module")
def library_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    (snippet,) = blocks("python", "Library")
    cwd = tmp_path_factory.mktemp("readme")
    done = subprocess.run([sys.executable, "-c", snippet], cwd=cwd, capture_output=True, text=True, check=False)
    return cwd, done


@pytest.mark.integration
def test_the_library_snippet_runs_as_written(library_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    cwd, done = library_run
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "signal" in out and "weight" in out  # the fusion table
    assert (cwd / "artifacts" / "manifest.json").is_file()


@pytest.mark.integration
def test_the_cli_lines_on_saved_artifacts_run(library_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    cwd, done = library_run
    assert done.returncode == 0, done.stderr[-3000:]
    (commands,) = blocks("bash", "Command line")
    lines = [line.split("#")[0].strip() for line in commands.splitlines()]
    ran = 0
    for line in lines:
        if not line.startswith("interestlm ") or "--artifacts artifacts/" not in line:
            continue
        # Optional parts are written in [brackets]; user 1 of the full data is user 2 of the sample.
        args = shlex.split(re.sub(r"\[[^\]]*\]", "", line).replace("--user 1", "--user 2"))
        result = subprocess.run(
            [sys.executable, "-m", "interestlm.cli", *args[1:]], cwd=cwd, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, (line, result.stderr[-2000:])
        ran += 1
    assert ran >= 3


def test_your_own_data_runs_as_written(tmp_path: Path) -> None:
    """The "Your own data" section: DataFrames in, a DataFrame out, then the same data as files
    through the command line's column flags (a tiny log: MiniLM encodes six items)."""
    (snippet,) = blocks("python", "Your own data")
    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "columns: user=customer, item=product, time=when, rating=stars, items.item=product" in done.stdout
    assert "Trekking poles" in done.stdout and (tmp_path / "purchases.csv").is_file()
    (commands,) = blocks("bash", "Your own data")
    lines = [line for line in commands.replace("\\\n", " ").splitlines() if line.startswith("interestlm ")]
    assert len(lines) == 3
    for line in lines:
        result = subprocess.run(
            [sys.executable, "-m", "interestlm.cli", *shlex.split(line)[1:]], cwd=tmp_path, capture_output=True,
            text=True, check=False,
        )
        assert result.returncode == 0, (line, result.stderr[-2000:])
    assert (tmp_path / "shop-artifacts" / "manifest.json").is_file()
    # ann has the tent, stove and lamp: her list holds only items she has not had.
    from interestlm.recommender import Recommender

    saved = Recommender.load(tmp_path / "shop-artifacts")
    assert {r.item_id for r in saved.recommend("ann", 2, explain=False)} <= {"boots", "map", "poles"}
