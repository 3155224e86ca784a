from pathlib import Path

import pytest

from interestlm.config import load_config
from interestlm.evaluate.runner import evaluation_config


def test_evaluation_config_reads_sections_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[evaluate]\nsplit = "temporal"\nks = [1, 3]\n\n[models.sasrec]\nepochs = 7\n')
    config = evaluation_config(load_config(path), seed=5, split=None)
    assert config.split == "temporal"
    assert config.ks == (1, 3)
    assert config.seed == 5
    assert config.models == {"sasrec": {"epochs": 7}}


def test_unknown_keys_and_bad_toml_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown \[evaluate\] keys"):
        evaluation_config({"evaluate": {"splitt": "loo"}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[evaluate\n")
    with pytest.raises(ValueError, match=r"bad\.toml: invalid TOML"):
        load_config(bad)
