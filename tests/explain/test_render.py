from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.explain import Explanation, render

TITLES = ["Heat", "Ronin", "The Thomas Crown Affair", "", 'The "Quoted" One', "x" * 100]


def _e(**kw: object) -> Explanation:
    base: dict[str, object] = {
        "item": 9,
        "interest": None,
        "interest_label": "",
        "concepts": (),
        "evidence": (),
        "path": (),
        "text": "",
    }
    base.update(kw)
    return Explanation(**base)  # type: ignore[arg-type]


def test_full_sentence() -> None:
    e = _e(interest=0, interest_label="crime & thriller", concepts=("heist", "los angeles"), evidence=(0, 1))
    assert render(e, TITLES) == (
        'Because you liked "Heat" and "Ronin" — it fits your crime & thriller interest and shares heist, los angeles.'
    )


def test_three_items_and_missing_parts() -> None:
    assert render(_e(evidence=(0, 1, 2)), TITLES) == 'Because you liked "Heat", "Ronin" and "The Thomas Crown Affair".'
    assert render(_e(concepts=("heist",)), TITLES) == "It shares heist."
    assert render(_e(interest_label="crime"), TITLES) == "It fits your crime interest."
    assert render(_e(path=("jazz", "funk")), TITLES) == "It connects jazz to funk."
    assert render(_e(), TITLES).endswith(".")


def test_titles_missing_empty_quoted_or_long() -> None:
    assert render(_e(evidence=(0,))) == "Because you liked item 0."
    assert render(_e(evidence=(3,)), TITLES) == "Because you liked item 3."
    assert render(_e(evidence=(4,)), TITLES) == "Because you liked \"The 'Quoted' One\"."
    long = render(_e(evidence=(5,)), TITLES)
    assert len(long) < 90 and "…" in long


@settings(max_examples=60, deadline=None)
@given(
    evidence=st.lists(st.integers(0, len(TITLES) - 1), max_size=3, unique=True),
    label=st.sampled_from(["", "crime", "jazz & blues"]),
    concepts=st.lists(st.sampled_from(["heist", "noir", "saxophone"]), max_size=3, unique=True),
    path=st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=4, unique=True),
)
def test_always_one_sentence_citing_only_the_evidence(
    evidence: list[int], label: str, concepts: list[str], path: list[str]
) -> None:
    e = _e(evidence=tuple(evidence), interest_label=label, concepts=tuple(concepts), path=tuple(path))
    text = render(e, TITLES)
    assert text[0].isupper() and text.endswith(".") and "\n" not in text
    assert text.count(". ") == 0
    quoted = {t for t in TITLES if t and '"' not in t and len(t) < 60}
    for i, title in enumerate(TITLES):
        if title in quoted:
            assert (f'"{title}"' in text) == (i in evidence)
    if label:
        assert f"your {label} interest" in text
