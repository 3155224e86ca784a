from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.core.tables import Catalog, Interactions
from interestlm.data.registry import load_dataset
from interestlm.text import clip, history_text, item_name, item_text, item_texts, review_snippets

# Rows shaped like the real datasets: MovieLens (title, genres, tags), Amazon 2018 / UniSRec
# (description that repeats the title), Amazon 2014 5-core (no item text, reviews only),
# S3-Rec Beauty (attribute ids only), and an item with nothing at all.
MOVIELENS = dict(
    titles=["Toy Story (1995)", "Jumanji (1995)"],
    categories=[("Adventure", "Animation", "Children", "Comedy", "Fantasy"), ("Adventure", "Children", "Fantasy")],
    tags=[("pixar", "fun", "Pixar"), ("fantasy", "magic board game", "robin williams", "game")],
)
SCI_TITLE = "eSUN Bronze filament 1.75mm 0.5kg(1.1lb) Spool for Makerbot, Reprap, UP, Afinia, Flash Forge and all"
SCI_DESC = (
    SCI_TITLE + " FDM 3D Printers. Industrial & Scientific Additive Manufacturing Products 3D Printing Supplies "
    "3D Printing Filament. eSUN."
)


def catalog() -> Catalog:
    return Catalog.build(
        ["ml1", "ml2", "sci", "mi", "beauty", "bare", "full"],
        titles=[*MOVIELENS["titles"], SCI_TITLE, "", "", "", "Studio Pop Filter"],
        descriptions=["", "", SCI_DESC, "", "", "", "A  double-screen\n pop filter for vocals."],
        categories=[*MOVIELENS["categories"], (), (), (), (), ("Musical Instruments", "Microphones")],
        tags=[*MOVIELENS["tags"], (), (), (), (), ()],
        brands=["", "", "", "", "", "", "Nady"],
        attributes=[(), (), (), (), ("173", "1", "162"), (), ("12",)],
    )


def test_movielens_row_has_title_genres_and_deduplicated_tags() -> None:
    text = item_text(catalog(), 0, category_label="Genres")
    assert text.splitlines() == [
        "Toy Story (1995)",
        "Genres: Adventure, Animation, Children, Comedy, Fantasy",
        "Tags: pixar, fun",
    ]


def test_tags_are_capped() -> None:
    cat = Catalog.build(["a"], titles=["T"], tags=[tuple(f"tag{j}" for j in range(40))])
    assert item_text(cat, 0).splitlines()[1] == "Tags: " + ", ".join(f"tag{j}" for j in range(10))
    assert item_text(cat, 0, max_tags=2).splitlines()[1] == "Tags: tag0, tag1"


def test_description_that_repeats_the_title_replaces_it() -> None:
    text = item_text(catalog(), 2)
    assert text == SCI_DESC
    assert text.count("eSUN Bronze") == 1


def test_all_fields_in_order_and_whitespace_collapsed() -> None:
    text = item_text(catalog(), 6, reviews=["Works great", "Blocks pops"])
    assert text.splitlines() == [
        "Studio Pop Filter",
        "Categories: Musical Instruments, Microphones",
        "Brand: Nady",
        "A double-screen pop filter for vocals.",
        "Reviews: Works great | Blocks pops",
    ]
    assert "Attributes" not in text


def test_review_only_item_and_attribute_only_item() -> None:
    cat = catalog()
    assert item_text(cat, 3, reviews=["Cheap and good", "cheap and good", "Sturdy", "Fourth"]) == (
        "Reviews: Cheap and good | Sturdy | Fourth"
    )
    assert item_text(cat, 3, reviews=["a", "b", "c", "d"], max_reviews=2) == "Reviews: a | b"
    assert item_text(cat, 4) == "Attributes: 173, 1, 162"
    # Attribute ids add nothing once real text exists.
    assert item_text(cat, 4, reviews=["Lovely scent"]) == "Reviews: Lovely scent"
    assert item_text(cat, 5) == ""


def test_long_description_is_truncated_at_a_word_boundary() -> None:
    words = " ".join(f"word{j}" for j in range(500))
    cat = Catalog.build(["a"], titles=["Short title"], descriptions=[words])
    text = item_text(cat, 0, max_chars=200)
    assert len(text) <= 200
    assert text.startswith("Short title\nword0 word1")
    assert text.endswith("...")
    assert text.removesuffix("...").split()[-1] in words.split()
    # Short fields survive, reviews get what is left after the description.
    assert item_text(cat, 0, reviews=["great"], max_chars=200).startswith("Short title\n")


@settings(max_examples=30, deadline=None)
@given(
    title=st.text(max_size=80),
    description=st.text(max_size=400),
    tags=st.lists(st.text(max_size=15), max_size=20),
    reviews=st.lists(st.text(max_size=100), max_size=5),
    max_chars=st.integers(min_value=0, max_value=300),
)
def test_text_never_exceeds_max_chars(
    title: str, description: str, tags: list[str], reviews: list[str], max_chars: int
) -> None:
    cat = Catalog.build(["a"], titles=[title], descriptions=[description], tags=[tags])
    text = item_text(cat, 0, reviews=reviews, max_chars=max_chars)
    assert len(text) <= max_chars
    if max_chars >= 300 and title.strip() and not description.strip():
        assert text.startswith(" ".join(title.split()))


def test_item_texts_matches_item_text_and_checks_lengths() -> None:
    cat = catalog()
    reviews = [[] for _ in range(len(cat))]
    reviews[3] = ["Nice"]
    texts = item_texts(cat, reviews=reviews)
    assert texts == [item_text(cat, i, reviews=reviews[i]) for i in range(len(cat))]
    assert texts[3] == "Reviews: Nice"
    with pytest.raises(ValueError, match="reviews has 2 rows"):
        item_texts(cat, reviews=[[], []])
    with pytest.raises(ValueError, match="outside the catalog"):
        item_text(cat, len(cat))
    with pytest.raises(ValueError, match="outside the catalog"):
        item_text(cat, -1)


def test_clip() -> None:
    assert clip("hello world", 20) == "hello world"
    assert clip("alpha beta gamma delta", 15) == "alpha beta..."
    assert clip("hello wonderful world", 15) == "hello wonder..."
    assert clip("abcdefghijklmnop", 10) == "abcdefg..."
    assert clip("abc", 2) == "ab"
    with pytest.raises(ValueError):
        clip("abc", -1)


def interactions() -> Interactions:
    # item 0: three reviews at times 10, 30, 20 plus a duplicate; item 1: one blank, one held out.
    return Interactions.build(
        user=[0, 1, 2, 3, 0, 1, 2],
        item=[0, 0, 0, 0, 1, 1, 2],
        user_ids=["u0", "u1", "u2", "u3"],
        timestamp=[10, 30, 20, 30, 5, 50, 7],
        review=[
            "Old one\nfirst review body",
            "Newest",
            "Middle!\nbody two",
            "Newest",
            "   ",
            "HELD OUT secret text",
            "",
        ],
    )


def test_review_snippets_newest_first_deduplicated_and_joined() -> None:
    snippets = review_snippets(interactions(), 4)
    assert snippets[0] == ["Newest", "Middle! body two", "Old one. first review body"]
    assert snippets[1] == ["HELD OUT secret text"]
    assert snippets[2] == [] and snippets[3] == []
    assert review_snippets(interactions(), 4, max_per_item=1)[0] == ["Newest"]
    assert review_snippets(interactions(), 4, max_per_item=0) == [[], [], [], []]
    assert review_snippets(interactions(), 4, max_chars=8)[0][2] == "Old..."


def test_review_snippets_use_only_the_given_rows() -> None:
    inter = interactions()
    train = inter.select(inter.timestamp < 40)
    snippets = review_snippets(train, 4)
    assert snippets[1] == []
    texts = item_texts(catalog().take(np.arange(4)), reviews=snippets)
    assert not any("HELD OUT" in t for t in texts)


def test_review_snippets_reject_bad_input() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        review_snippets(interactions(), 2)
    with pytest.raises(ValueError, match="max_per_item"):
        review_snippets(interactions(), 4, max_per_item=-1)


def test_history_text() -> None:
    cat = catalog()
    assert history_text(cat, [0, 1], ratings=[5.0, 2.0]) == "Toy Story (1995) [5/5]; Jumanji (1995) [2/5]"
    assert history_text(cat, np.array([0, 1], dtype=np.int32), ratings=np.array([4.5, math.nan])) == (
        "Toy Story (1995) [4.5/5]; Jumanji (1995)"
    )
    assert history_text(cat, [0, 1, 0], max_items=2) == "Jumanji (1995); Toy Story (1995)"
    assert history_text(cat, [], ratings=[]) == ""
    assert history_text(cat, [4, 3]) == "item beauty; item mi"
    assert history_text(cat, [0], ratings=[8.0], max_rating=10) == "Toy Story (1995) [8/10]"
    with pytest.raises(ValueError, match="ratings has 1 entries"):
        history_text(cat, [0, 1], ratings=[5.0])
    with pytest.raises(ValueError, match="outside the catalog"):
        history_text(cat, [99])


def test_item_name_falls_back_to_description_then_id() -> None:
    cat = Catalog.build(["x", "y"], descriptions=["A very long description " * 10, ""])
    assert item_name(cat, 0, max_chars=30) == "A very long description A..."
    assert item_name(cat, 1) == "item y"


def test_shipped_movielens_sample() -> None:
    cat = load_dataset("ml-latest-small-sample").catalog
    texts = item_texts(cat, category_label="Genres")
    assert len(texts) == len(cat)
    assert all(texts)
    toy = texts[cat.index_of()["1"]]
    assert toy.startswith("Toy Story (1995)\nGenres: Adventure, Animation, Children, Comedy, Fantasy")
    assert max(len(t) for t in texts) <= 1000
    assert all(t.count("\nTags: ") <= 1 and len(t.split("Tags: ")[-1].split(", ")) <= 10 for t in texts if "Tags" in t)
