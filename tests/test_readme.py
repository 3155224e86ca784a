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


@pytest.mark.integration
def test_the_rating_command_runs_on_the_shipped_sample(tmp_path: Path) -> None:
    (commands,) = blocks("bash", "Predicting ratings")
    (line,) = [ln for ln in commands.splitlines() if ln.startswith("interestlm ")]
    args = shlex.split(line)
    result = subprocess.run(
        [sys.executable, "-m", "interestlm.cli", *args[1:]], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {ln.split()[0]: float(ln.split()[1]) for ln in result.stdout.splitlines()[1:] if ln.strip()}
    assert set(rows) == {"global-mean", "baseline", "svd", "fused"}
    assert rows["fused"] < rows["baseline"] < rows["global-mean"]
