import numpy as np
import pytest
import scipy.sparse as sp

from interestlm.concepts import ConceptConfig, extract_concepts
from interestlm.core.schema import CONCEPT_KINDS, ItemConcepts
from interestlm.core.tables import Catalog
from interestlm.data.registry import load_dataset
from interestlm.encode import HashingEncoder
from interestlm.text import item_texts


def item_names(ic: ItemConcepts, item: int) -> set[str]:
    return {ic.names[c] for c, _ in ic.of_item(item)}


def items_of(ic: ItemConcepts, name: str) -> set[int]:
    return set(np.flatnonzero(ic.matrix[:, ic.index_of()[name]].toarray().ravel()).tolist())


def check_container(ic: ItemConcepts, n_items: int) -> None:
    assert isinstance(ic.matrix, sp.csr_matrix)
    assert ic.matrix.shape == (n_items, ic.n_concepts)
    assert ic.matrix.dtype == np.float32
    assert np.all(ic.matrix.data > 0) and np.all(ic.matrix.data <= 1)
    assert set(ic.kinds) <= set(CONCEPT_KINDS)
    assert len(set(ic.names)) == ic.n_concepts


def test_genre_and_tag_spelled_differently_are_one_concept_of_the_structured_kind() -> None:
    catalog = Catalog.build(
        ["a", "b", "c"],
        categories=[("Sci-Fi", "Drama"), (), ("Drama",)],
        tags=[(), ("sci fi",), ("SCI-FI", "sci-fi")],
    )
    ic = extract_concepts(catalog, config=ConceptConfig(category_kind="genre"))
    check_container(ic, 3)
    assert ic.names.count("sci fi") == 1
    c = ic.index_of()["sci fi"]
    assert ic.kinds[c] == "genre"
    assert ic.matrix[0, c] == pytest.approx(1.0)
    assert 0 < ic.matrix[1, c] < 1  # a single tag weighs less than a genre
    assert ic.matrix[1, c] < ic.matrix[2, c] <= 1  # a tag given twice weighs more than once


def test_structured_fields_become_named_concepts_and_are_kept_even_when_rare() -> None:
    catalog = Catalog.build(
        ["a", "b", "c"],
        categories=[("Beauty", "Skin Care"), ("Beauty",), ()],
        brands=["Neutrogena", "", "L'Oréal"],
        attributes=[("261", "7"), ("261",), ()],
        tags=[("only once",), (), ("twice",)],
    )
    ic = extract_concepts(catalog, config=ConceptConfig(min_item_count=2))
    check_container(ic, 3)
    kinds = dict(zip(ic.names, ic.kinds, strict=True))
    assert kinds["beauty"] == "category" and kinds["skin care"] == "category"
    assert kinds["neutrogena"] == "brand" and kinds["loréal"] == "brand"
    assert kinds["attribute 261"] == "attribute" and kinds["attribute 7"] == "attribute"
    assert "only once" not in kinds and "twice" not in kinds  # tags on one item are noise
    assert item_names(ic, 0) == {"beauty", "skin care", "neutrogena", "attribute 261", "attribute 7"}
    assert item_names(ic, 1) == {"beauty", "attribute 261"}
    assert item_names(ic, 2) == {"loréal"}
    # Kind order, then name: genres/categories first, attributes after brands.
    assert [ic.kinds.index(k) for k in ("category", "brand", "attribute")] == sorted(
        ic.kinds.index(k) for k in ("category", "brand", "attribute")
    )


def test_keyphrases_are_mined_from_text_without_numbers_years_or_stop_word_edges() -> None:
    # Descriptions, not titles: a phrase found only in titles follows other rules (tests below).
    texts = [
        "Time Travel Adventure (1985)",
        "The Time Travel Wife (2009)",
        "Time Travel Machine 2 (2002)",
        "Star Wars: Episode IV (1977)",
        "Star Wars: Episode V (1980)",
        "Beauty and the Beast (1991)",
        "Beauty and the Beast (2017)",
        "Gardening for Beginners",
        "Cooking for Beginners",
        "Quiet Evening",
        "Loud Morning",
        "Dark Night",
    ]
    catalog = Catalog.build([str(i) for i in range(len(texts))], descriptions=texts)
    ic = extract_concepts(catalog, config=ConceptConfig(max_keyphrases=2, max_df=0.5, ngram_range=(1, 4)))
    check_container(ic, len(texts))
    assert set(ic.kinds) == {"keyphrase"}
    assert "time travel" in item_names(ic, 0)
    assert "star wars episode" in item_names(ic, 3) or "star wars" in item_names(ic, 3)
    assert "beauty and the beast" in item_names(ic, 5)
    assert "beginners" in ic.names
    for name in ic.names:
        tokens = name.split()
        assert all(not t.isdigit() and len(t) > 1 for t in tokens), name
        assert tokens[0] not in {"the", "and", "for"} and tokens[-1] not in {"the", "and", "for"}, name
    # A phrase already chosen for an item is not repeated by its parts.
    for i in range(len(texts)):
        names = item_names(ic, i)
        for a in names:
            assert not any(a != b and f" {a} " in f" {b} " for b in names), names
    # Words on a single item ("quiet", "evening") are below min_df.
    assert "quiet" not in ic.names and not item_names(ic, 9)
    assert ic.vectors is None


def test_keyphrase_weight_follows_tfidf_and_stays_below_structured_fields() -> None:
    texts = ["red apple pie", "red apple tart", "green apple pie", "red cherry tart", "plain bread", "plain toast"]
    catalog = Catalog.build([str(i) for i in range(6)], descriptions=texts, categories=[("Food",)] * 6)
    ic = extract_concepts(catalog, config=ConceptConfig(max_df=0.7, keyphrase_weight=0.5))
    check_container(ic, 6)
    food = ic.index_of()["food"]
    for i in range(6):
        pairs = ic.of_item(i)
        assert pairs[0] == (food, 1.0)
        keyphrase_weights = [w for c, w in pairs if ic.kinds[c] == "keyphrase"]
        assert keyphrase_weights and max(keyphrase_weights) == pytest.approx(0.5)


def test_near_duplicate_names_merge_at_the_threshold_and_keep_the_most_frequent_name() -> None:
    encoder = HashingEncoder(dim=1024)
    a, b = encoder.encode(["dark comedy", "comedy dark"])
    cosine = float(a @ b)
    assert 0.3 < cosine < 0.99
    catalog = Catalog.build(
        ["0", "1", "2", "3"],
        tags=[("dark comedy",), ("dark comedy",), ("dark comedy",), ("comedy dark",)],
    )
    merged = extract_concepts(
        catalog, encoder=encoder, config=ConceptConfig(merge_threshold=cosine - 1e-3, min_item_count=1)
    )
    assert merged.names == ["dark comedy"]
    assert merged.matrix.getnnz(axis=0).tolist() == [4]
    assert merged.vectors is not None and merged.vectors.shape == (1, 1024)
    np.testing.assert_allclose(merged.vectors[0], encoder.encode(["dark comedy"])[0], atol=1e-6)
    config = ConceptConfig(merge_threshold=cosine + 1e-3, min_item_count=1)
    kept = extract_concepts(catalog, encoder=encoder, config=config)
    assert sorted(kept.names) == ["comedy dark", "dark comedy"]


def test_merging_never_joins_two_structured_concepts_or_opaque_attributes() -> None:
    catalog = Catalog.build(
        ["0", "1", "2", "3"],
        categories=[("Action",), ("Adventure",), ("Action", "Adventure"), ()],
        attributes=[("1",), ("2",), (), ("3",)],
        tags=[("action packed",), ("adventure time",), ("action packed",), ("adventure time",)],
    )
    # Threshold -1: every pair is "similar"; only the rules keep concepts apart.
    ic = extract_concepts(catalog, encoder=HashingEncoder(), config=ConceptConfig(merge_threshold=-1.0))
    check_container(ic, 4)
    assert sorted(n for n, k in zip(ic.names, ic.kinds, strict=True) if k == "category") == ["action", "adventure"]
    assert sorted(n for n, k in zip(ic.names, ic.kinds, strict=True) if k == "attribute") == [
        "attribute 1",
        "attribute 2",
        "attribute 3",
    ]
    assert set(ic.kinds) == {"category", "attribute"}  # the tags joined a category each
    assert ic.vectors is not None and ic.vectors.shape[0] == ic.n_concepts


def test_bad_input_is_named() -> None:
    catalog = Catalog.build(["a", "b"])
    with pytest.raises(ValueError, match="texts has 1 rows"):
        extract_concepts(catalog, texts=["only one"])
    with pytest.raises(ValueError, match="max_df"):
        ConceptConfig(max_df=0.0)
    with pytest.raises(ValueError, match="category_kind"):
        ConceptConfig(category_kind="brand")
    with pytest.raises(ValueError, match="ngram_range"):
        ConceptConfig(ngram_range=(3, 1))


def test_empty_catalog_and_catalog_without_text_give_empty_concepts() -> None:
    empty = extract_concepts(Catalog.build([]))
    assert empty.n_concepts == 0 and empty.matrix.shape == (0, 0)
    blank = extract_concepts(Catalog.build(["a", "b"]), encoder=HashingEncoder())
    assert blank.n_concepts == 0 and blank.matrix.shape == (2, 0)
    assert blank.vectors is not None and blank.vectors.shape[0] == 0


def test_shipped_movielens_sample() -> None:
    data = load_dataset("ml-latest-small-sample")
    ic = extract_concepts(data.catalog, config=ConceptConfig(category_kind="genre"))
    check_container(ic, data.n_items)
    index = ic.index_of()
    assert ic.kinds[index["sci fi"]] == "genre"
    assert ic.kinds[index["animation"]] == "genre"
    assert sum(k == "genre" for k in ic.kinds) == 19
    assert {"tag", "keyphrase"} <= set(ic.kinds)
    keyphrases = [n for n, k in zip(ic.names, ic.kinds, strict=True) if k == "keyphrase"]
    assert not any(any(t.isdigit() for t in n.split()) for n in keyphrases)
    assert "imdb top 250" in ic.names  # user tags keep their numbers
    toy_story = data.catalog.index_of()["1"]
    assert {"animation", "children", "toy story"} <= item_names(ic, toy_story)


# --------------------------------------------------------------------------- title phrases

#: Filler films of assorted genres, so that two films drawn at random are rarely alike.
_FILLER = [
    ("Quiet Harbour (1961)", ("Drama",), ()),
    ("Neon Alley (1988)", ("Crime", "Thriller"), ()),
    ("Paper Moon Waltz (1974)", ("Musical", "Romance"), ()),
    ("Frozen Peaks (2003)", ("Documentary",), ()),
    ("Little Robot Friends (2011)", ("Animation", "Children"), ()),
    ("Haunted Mill (1979)", ("Horror",), ()),
    ("Desert Riders (1956)", ("Western",), ()),
    ("Office Hours (1999)", ("Comedy",), ()),
    ("River Kings (2015)", ("Adventure",), ()),
    ("Silent Witness (1992)", ("Mystery",), ()),
    ("Trench Lines (1966)", ("War",), ()),
    ("Prairie Song (1948)", ("Musical", "Western"), ()),
]


def _films(rows: list[tuple[str, tuple[str, ...], tuple[str, ...]]]) -> Catalog:
    rows = rows + _FILLER
    return Catalog.build(
        [str(i) for i in range(len(rows))],
        titles=[t for t, _, _ in rows],
        categories=[g for _, g, _ in rows],
        tags=[tg for _, _, tg in rows],
    )


def _genre_config(**kwargs: object) -> ConceptConfig:
    return ConceptConfig(category_kind="genre", **kwargs)  # type: ignore[arg-type]


def test_a_title_fragment_is_no_concept_but_a_series_name_in_three_alike_titles_is() -> None:
    catalog = _films(
        [
            ("Galaxy Raiders (1990)", ("Sci-Fi", "Action"), ("space battle",)),
            ("Galaxy Raiders: The Return (1993)", ("Sci-Fi", "Action"), ("space battle",)),
            ("Galaxy Raiders Forever (1996)", ("Sci-Fi", "Action"), ()),
            # Shared by two unrelated titles, and by one title only.
            ("The Legend of Ron Jeremy (2001)", ("Documentary",), ()),
            ("Anchorman: The Legend of Ron Burgundy (2004)", ("Comedy",), ()),
            ("The Social Network (2010)", ("Drama",), ()),
            # A word in three titles of films alike in nothing.
            ("Drop, The (2014)", ("Crime", "Drama"), ()),
            ("Drop Zone (1994)", ("Action", "Thriller"), ()),
            ("Drop Dead Fred (1991)", ("Comedy", "Fantasy"), ()),
        ]
    )
    texts = item_texts(catalog)
    ic = extract_concepts(catalog, texts=texts, config=_genre_config())
    check_container(ic, len(catalog))
    index = ic.index_of()
    assert "galaxy raiders" in index and ic.kinds[index["galaxy raiders"]] == "keyphrase"
    assert items_of(ic, "galaxy raiders") == {0, 1, 2}
    for fragment in ("legend of ron", "legend", "ron", "social", "network", "social network", "drop", "dead"):
        assert fragment not in index, fragment
    # The same rules with the title in a description: text about an item, so a phrase in two is kept.
    described = Catalog.build(
        [str(i) for i in range(len(catalog))], descriptions=list(catalog.titles), categories=list(catalog.categories)
    )
    assert "legend of ron" in extract_concepts(described, config=_genre_config()).index_of()


def test_a_single_title_word_must_head_a_series_and_two_of_three_alike_titles_are_too_few() -> None:
    catalog = _films(
        [
            ("Shrek (2001)", ("Animation", "Comedy"), ()),
            ("Shrek 2 (2004)", ("Animation", "Comedy"), ()),
            ("Shrek: The Musical (2013)", ("Animation", "Comedy"), ()),
            # Alike films (same genres) sharing a word that heads no sequel.
            ("Enough Said (2013)", ("Comedy", "Romance"), ()),
            ("He Said, She Said (1991)", ("Comedy", "Romance"), ()),
            ("Because I Said So (2007)", ("Comedy", "Romance"), ()),
            # Two alike films: below title_min_items.
            ("I Know What You Did Last Summer (1997)", ("Horror", "Thriller"), ()),
            ("I Still Know What You Did Last Summer (1998)", ("Horror", "Thriller"), ()),
        ]
    )
    index = extract_concepts(catalog, texts=item_texts(catalog), config=_genre_config()).index_of()
    assert "shrek" in index
    assert "said" not in index
    assert not any("summer" in name for name in index)
    lenient = extract_concepts(catalog, texts=item_texts(catalog), config=_genre_config(title_min_items=2)).index_of()
    assert "did last summer" in lenient or "know what you" in lenient


def test_a_genre_named_in_titles_comes_from_the_genre_field_only() -> None:
    catalog = _films(
        [
            ("Film Noir Nights (1950)", ("Drama",), ()),
            ("Film Noir Stories (1951)", ("Drama",), ()),
            ("Film Noir Tales (1952)", ("Drama",), ()),
            ("The Big Sleep (1946)", ("Film-Noir",), ()),
        ]
    )
    ic = extract_concepts(catalog, texts=item_texts(catalog), config=_genre_config())
    assert ic.kinds[ic.index_of()["film noir"]] == "genre"
    assert items_of(ic, "film noir") == {3}


def test_coherence_is_what_keeps_a_phrase_of_many_titles() -> None:
    rows = [(f"Night Shift {w} (19{60 + j})", (g,), ()) for j, (w, g) in enumerate(
        [("Alpha", "Drama"), ("Beta", "Comedy"), ("Gamma", "Horror"), ("Delta", "Western")]
    )]
    catalog = _films(rows)
    assert "night shift" not in extract_concepts(catalog, texts=item_texts(catalog), config=_genre_config()).index_of()
    loose = _genre_config(title_min_coherence=-1.0)
    # The bar is also twice the catalog's chance likeness: a negative cosine alone does not lower it.
    assert "night shift" not in extract_concepts(catalog, texts=item_texts(catalog), config=loose).index_of()
    alike = _films([(t, ("Drama",), ()) for t, _, _ in rows])
    assert "night shift" in extract_concepts(alike, texts=item_texts(alike), config=_genre_config()).index_of()


def test_a_catalog_of_bare_titles_falls_back_on_recurrence() -> None:
    titles = ["Time Travel Adventure", "The Time Travel Wife", "Time Travel Machine", "Star Wars Episode IV"]
    titles += ["Star Wars Episode V", "Gardening Basics", "Cooking Basics", "Quiet Evening", "Loud Morning", "Night"]
    ic = extract_concepts(Catalog.build([str(i) for i in range(len(titles))], titles=titles))
    assert "time travel" in ic.index_of()
    assert not any("star wars" in name for name in ic.names)  # two titles are not three


# --------------------------------------------------------------------------- what the text template adds


def test_template_labels_field_pieces_and_review_small_talk_are_no_keyphrases() -> None:
    catalog = Catalog.build(
        [str(i) for i in range(8)],
        titles=[f"Item {name}" for name in "ABCDEFGH"],
        tags=[("dark comedy",), ("dark comedy",), ("dark fantasy",), ("dark fantasy",), (), (), (), ()],
        brands=["", "", "", "", "Acme", "Acme", "", ""],
    )
    reviews = [
        [],
        [],
        [],
        [],
        ["Great price, works fine. The tube amp hums."],
        ["Nice product, great price. Warm tube amp tone."],
        ["Really great price for a tube amp."],
        ["Works fine, nice product."],
    ]
    texts = item_texts(catalog, reviews=reviews)
    assert "Tags: dark comedy" in texts[0] and "Reviews: " in texts[4]
    ic = extract_concepts(catalog, texts=texts, config=ConceptConfig(max_df=0.6))
    names = set(ic.names)
    assert {"dark comedy", "dark fantasy", "acme", "tube amp"} <= names
    assert not names & {"tags", "reviews", "brand", "dark", "comedy", "fantasy", "great price", "price", "fine"}
    assert not any(n.split()[0] in {"great", "nice", "works"} or n.split()[-1] == "product" for n in names)


# --------------------------------------------------------------------------- merging


def test_a_transliterated_title_merges_with_the_name_it_transliterates() -> None:
    rows = [
        (f"Dragon Ball Z: {sub} (Doragon bôru Z {n}: {orig}) ({1989 + n})", ("Animation", "Action"), ())
        for n, (sub, orig) in enumerate(
            [("Dead Zone", "Ora no Gohan"), ("Tree of Might", "Chikyu marugoto"), ("Lord Slug", "Super saiyajin"),
             ("Coolers Revenge", "Tobikkiri"), ("Return of Cooler", "Gekitotsu")],
            start=1,
        )
    ]
    catalog = _films(rows)
    ic = extract_concepts(catalog, texts=item_texts(catalog), config=_genre_config())
    assert "dragon ball" in ic.names and "doragon bôru" not in ic.names
    assert items_of(ic, "dragon ball") == set(range(5))
    apart = extract_concepts(catalog, texts=item_texts(catalog), config=_genre_config(merge_cooccurring=False))
    assert {"dragon ball", "doragon bôru"} <= set(apart.names)


def test_spellings_merge_but_field_values_never_merge_on_overlap_alone() -> None:
    catalog = Catalog.build(
        [str(i) for i in range(9)],
        tags=[
            ("Sci-Fi", "zombies", "atmospheric", "visually appealing"),
            ("SciFi", "zombie", "atmospheric", "visually appealing"),
            ("sci fi", "zombies", "atmospheric", "visually appealing"),
            ("blues",),
            ("blue",),
            ("blues",),
            ("blue",),
            (),
            (),
        ],
    )
    ic = extract_concepts(catalog)
    assert sorted(ic.names) == ["atmospheric", "blue", "blues", "sci fi", "visually appealing", "zombies"]
    assert ic.matrix[:, ic.index_of()["zombies"]].nnz == 3
    assert ic.matrix[:, ic.index_of()["sci fi"]].nnz == 3
    kept = extract_concepts(catalog, config=ConceptConfig(merge_spellings=False, min_item_count=1))
    assert {"scifi", "zombie"} <= set(kept.names)


def test_new_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="title_min_items"):
        ConceptConfig(title_min_items=1)
    with pytest.raises(ValueError, match="title_min_coherence"):
        ConceptConfig(title_min_coherence=1.5)
    with pytest.raises(ValueError, match="cooccurrence_threshold"):
        ConceptConfig(cooccurrence_threshold=0.0)
    with pytest.raises(ValueError, match="cooccurrence_min_items"):
        ConceptConfig(cooccurrence_min_items=0)
