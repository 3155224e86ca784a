"""The redesigned front door: validated config, typed errors, one normaliser for concept names
(library, command line and HTTP), and one renderer (the CLI's JSON is the HTTP body)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from interestlm import (
    BadInputError,
    ConfigError,
    NotFittedError,
    Recommender,
    RecommenderConfig,
    UnknownConceptError,
    UnknownIdError,
)
from interestlm.config import recommender_config
from interestlm.core.names import NameIndex, normalise_name, spelling_key
from interestlm.core.tables import Dataset
from interestlm.testing.genres import planted_genres

SPELLINGS = ["Sci-Fi", "sci fi", "SciFi", "SCI_FI", "sci-fi"]


@pytest.fixture(scope="module")
def genres() -> Dataset:
    return planted_genres()


@pytest.fixture(scope="module")
def fitted(genres: Dataset) -> Recommender:
    return Recommender(RecommenderConfig(encoder="hashing")).fit(genres)


@pytest.fixture(scope="module")
def artifacts(fitted: Recommender, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fitted.save(tmp_path_factory.mktemp("front") / "artifacts")


# ---------------------------------------------------------------------------- configuration
def test_config_rejects_unknown_signals_and_choices_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"\['intrest'\] are unknown; valid: interest, short_term"):
        RecommenderConfig(signals=("intrest", "popularity"))
    with pytest.raises(ConfigError, match="collaborative='ase': choose one of auto, ease, itemknn, none"):
        RecommenderConfig(collaborative="ase")
    with pytest.raises(ConfigError, match="diversity must be in"):
        RecommenderConfig(diversity=1.5)
    with pytest.raises(ConfigError, match=r"unknown keys in \[recommender\]: \['signalz'\]"):
        recommender_config({"recommender": {"signalz": ["interest"]}})
    with pytest.raises(ConfigError, match=r"unknown keys in \[recommender\.profiles\]"):
        recommender_config({"recommender": {"profiles": {"max_interest": 3}}})
    # A ConfigError is still a ValueError for callers that caught those.
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, BadInputError)


def test_not_fitted_is_a_clear_error() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        Recommender().recommend("1")


# ---------------------------------------------------------------------------- names
def test_one_normaliser_for_every_spelling() -> None:
    assert {normalise_name(s) for s in SPELLINGS} - {"scifi"} == {"sci fi"}
    assert {spelling_key(s) for s in SPELLINGS} == {"scifi"}
    index = NameIndex(["sci fi", "film noir", "horror"])
    assert {index.get(s) for s in SPELLINGS} == {0}
    assert index.get("Film-Noir") == 1 and index.get("FilmNoir") == 1
    with pytest.raises(UnknownConceptError) as err:
        index.resolve("horrror")
    assert err.value.suggestions == ["horror"] and "did you mean 'horror'" in str(err.value)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_pin_any_spelling_through_the_library(fitted: Recommender, spelling: str) -> None:
    before = fitted.recommend("u2-0", k=5)  # a horror fan
    assert not any(r.item_id.startswith("0-") for r in before)
    profile = fitted.edit("u2-0", pin=[spelling])
    assert profile.edits.pinned == frozenset({"sci fi"})
    pinned = [r for r in fitted.recommend("u2-0", k=5) if r.item_id.startswith("0-")]
    assert len(pinned) >= 2 and all(r.contributions.get("pin", 0) > 0 for r in pinned)
    fitted.edit("u2-0", unpin=[spelling])
    assert not fitted.profile("u2-0").edits.pinned


def test_unknown_concept_suggests_close_names(fitted: Recommender) -> None:
    with pytest.raises(UnknownConceptError, match="did you mean 'sci fi'"):
        fitted.edit("u1-0", pin=["sci fy"])
    with pytest.raises(UnknownIdError, match="unknown user id 'nobody'"):
        fitted.edit("nobody", pin=["horror"])


# ---------------------------------------------------------------------------- command line
def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interestlm.cli", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("spelling", ["Sci-Fi", "SciFi"])
def test_pin_any_spelling_through_the_cli(artifacts: Path, tmp_path: Path, spelling: str) -> None:
    out = tmp_path / "recs.json"
    done = run_cli(
        "recommend", "--artifacts", str(artifacts), "--user", "u2-0", "-k", "5", "--pin", spelling, "--json", str(out)
    )
    assert done.returncode == 0, done.stderr
    recs = json.loads(out.read_text())["recommendations"]
    assert sum(r["item_id"].startswith("0-") for r in recs) >= 2
    bad = run_cli("recommend", "--artifacts", str(artifacts), "--user", "u2-0", "--pin", "sci fy")
    assert bad.returncode == 2 and "did you mean 'sci fi'" in bad.stderr


# ---------------------------------------------------------------------------- HTTP
@pytest.fixture(scope="module")
def server(artifacts: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(Path(__file__).parent / "serve"))
    from serve_helpers import KEY, live

    from interestlm.serve import ServeSettings, create_app

    settings = ServeSettings(api_keys=(KEY,), store_path=tmp_path_factory.mktemp("st") / "s.sqlite3")
    with live(create_app(artifacts, settings=settings)) as s:
        yield s


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_pin_any_spelling_over_http(server, spelling: str) -> None:  # type: ignore[no-untyped-def]
    with server.client() as c:
        r = c.patch("/v1/users/u3-0/profile", json={"pin": [spelling]})
        assert r.status_code == 200, r.text
        assert r.json()["edits"]["pinned"] == ["sci fi"]
        recs = c.get("/v1/users/u3-0/recommendations", params={"k": 5}).json()["recommendations"]
        assert sum(x["item_id"].startswith("0-") for x in recs) >= 2
        assert c.patch("/v1/users/u3-0/profile", json={"unpin": [spelling]}).status_code == 200


def test_unknown_concept_over_http_is_422_with_suggestions(server) -> None:  # type: ignore[no-untyped-def]
    with server.client() as c:
        r = c.patch("/v1/users/u3-1/profile", json={"mute": ["horrror"]})
        assert r.status_code == 422
        assert r.json()["suggestions"] == ["horror"] and "did you mean" in r.json()["detail"]


def test_cli_json_and_http_body_are_the_same(server, artifacts: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cli.json"
    done = run_cli("recommend", "--artifacts", str(artifacts), "--user", "u4-2", "-k", "7", "--json", str(out))
    assert done.returncode == 0, done.stderr
    from_cli = json.loads(out.read_text())
    with server.client() as c:
        from_http = c.get("/v1/users/u4-2/recommendations", params={"k": 7}).json()
    assert from_cli == from_http
    first = from_http["recommendations"][0]
    assert {"item_id", "title", "score", "explanation", "reason", "interest", "evidence", "contributions"} <= set(first)
    assert abs(sum(first["contributions"].values()) - first["score"]) < 1e-3
