"""The model-free half of language generation: prompts, the output cache, mention finding, the
validators that reject ungrounded text, and the cue-word taste parser."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from interestlm.core.schema import ItemConcepts
from interestlm.explain import Explanation
from interestlm.explain.lm import compose_reason, explanation_evidence, validate_explanation
from interestlm.lm import Generator, LMCache, TemplateLM, input_hash, load_prompt, make_lm
from interestlm.profiles.from_text import ConceptVocabulary, parse_taste_rules, validate_taste
from interestlm.profiles.lm_summary import SummaryFacts, validate_summary
from interestlm.text.mentions import MentionIndex, display_title, title_forms

TITLES = ["Heat (1995)", "Ronin (1998)", "Godfather, The (1972)", "Toy Story (1995)", "Alien (1979)", "Up (2009)",
          "Heat (1986)", "Toy Story 2 (1999)"]
NAMES = ["crime", "thriller", "heist", "animation", "sci fi", "horror", "comedy", "drama", "slow burn", "killer",
         "serial killer"]
ROWS = {0: ["crime", "thriller", "heist"], 1: ["crime", "thriller"], 2: ["crime", "drama"], 3: ["animation", "comedy"],
        4: ["sci fi", "horror"], 5: ["animation"], 6: ["crime", "thriller"], 7: ["animation", "comedy"]}


def concepts() -> ItemConcepts:
    index = {n: c for c, n in enumerate(NAMES)}
    rows, cols = zip(*[(i, index[n]) for i, names in ROWS.items() for n in names], strict=True)
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(TITLES), len(NAMES)))
    return ItemConcepts(names=NAMES, kinds=["genre"] * len(NAMES), matrix=matrix)


def test_titles_are_matched_the_way_people_write_them() -> None:
    assert display_title("Godfather, The (1972)") == "The Godfather"
    assert {"the godfather", "godfather", "godfather the 1972"} <= title_forms("Godfather, The (1972)")
    index = MentionIndex(TITLES, NAMES)
    assert index.items("Fans of the godfather and Toy Story") == {2, 3}
    # A one-word title is too ambiguous to find unquoted, but a quote names it.
    assert index.items("we are up all night") == set()
    assert index.items_named("Up") == {5}
    assert index.concepts("a Sci-Fi horror film") == {"sci fi", "horror"}
    # Words that spell an allowed title or concept name that one, not also a shorter or same-named one.
    assert index.items("Toy Story 2 is fun") == {3, 7}
    assert index.items("Toy Story 2 is fun", besides={7}) == set()
    assert index.items("Toy Story 2 and Toy Story", besides={7}) == {3}
    assert index.concepts("a serial killer thriller") == {"serial killer", "killer", "thriller"}
    assert index.concepts("a serial killer thriller", besides={"serial killer"}) == {"serial killer", "thriller"}
    assert index.concepts("a killer thriller", besides={"serial killer"}) == {"killer", "thriller"}


def test_prompts_are_versioned_files() -> None:
    prompt = load_prompt("explain", 1)
    assert prompt.tag == "explain.v1" and "$reason" in prompt.template
    assert 'enjoy "Heat" because' in prompt.render({"reason": "r", "title": "Heat"})
    with pytest.raises(KeyError):
        prompt.render({})
    newest = load_prompt("explain")
    assert newest.tag == "explain.v2" and "$topics" in newest.template and "$reason" not in newest.template
    with pytest.raises(ValueError, match="no version 99"):
        load_prompt("explain", 99)
    with pytest.raises(ValueError, match="no prompt named"):
        load_prompt("nonexistent")


@pytest.mark.parametrize("path", [None, "cache.sqlite"])
def test_cache_round_trips_by_model_prompt_and_input(tmp_path: Path, path: str | None) -> None:
    cache = LMCache(tmp_path / path if path else None)
    key = input_hash("prompt", max_tokens=10, temperature=0.0, seed=0)
    assert key != input_hash("prompt", max_tokens=11, temperature=0.0, seed=0)
    assert cache.get("m", "explain.v1", key) is None
    cache.put("m", "explain.v1", key, "text", 0.1)
    assert cache.get("m", "explain.v1", key) == "text"
    assert cache.get("other-model", "explain.v1", key) is None
    assert cache.get("m", "explain.v2", key) is None
    assert len(cache) == 1
    if path:
        assert LMCache(tmp_path / path).get("m", "explain.v1", key) == "text"


def test_template_lm_never_calls_and_counts_nothing() -> None:
    generator = Generator(make_lm("template"))
    assert isinstance(generator.lm, TemplateLM) and generator.source == "template"
    result = generator.generate(load_prompt("summary"), {"facts": "-"}, lambda raw: raw)
    assert result.text is None and result.outcome == "template" and generator.stats.calls == 0
    with pytest.raises(ValueError, match="unknown language model"):
        make_lm("gpt")


def _explanation() -> Explanation:
    return Explanation(item=0, interest=0, interest_label="crime & thriller", concepts=("heist",), evidence=(1, 2),
                       path=(), text="template")


def test_explanation_validator_accepts_only_grounded_text() -> None:
    mentions = MentionIndex(TITLES, NAMES)
    evidence = explanation_evidence(_explanation(), titles=TITLES, item_concepts=concepts())
    assert '"Heat" (crime, thriller, heist)' in evidence.lines and '"Ronin", "The Godfather"' in evidence.lines
    assert evidence.opening == 'You might enjoy "Heat" because' and evidence.reason == "template"
    # The reply continues the prompt's unfinished sentence; the opening is put back in front.
    ok = 'it is another heist thriller, like "Ronin".'
    assert validate_explanation(ok, evidence, mentions=mentions) == f"{evidence.opening} {ok}"
    repeated = 'You might enjoy "Heat" because you liked "The Godfather".'
    assert validate_explanation(repeated, evidence, mentions=mentions) == repeated
    rejects = {
        'it is like "Alien".': "unsupported title",  # not in the evidence
        "you liked Toy Story.": "unsupported title",  # unquoted, still found
        'you liked "Ronin" and this horror film fits.': "unsupported concept",
        "it is a great pick for tonight.": "cites nothing",  # names nothing of the user's
        'you liked "Blade Runner 3000".': "unsupported title",  # invented title
        'You might enjoy "Ronin" because it is a heist film.': "wrong item",
        "I am a helpful assistant.": "wrong item",
        "ok.": "too short",
    }
    for text, reason in rejects.items():
        with pytest.raises(ValueError, match=reason):
            validate_explanation(text, evidence, mentions=mentions)


def test_v2_reason_is_put_after_the_code_written_opening_and_validated_the_same() -> None:
    mentions = MentionIndex(TITLES, NAMES)
    evidence = explanation_evidence(_explanation(), titles=TITLES, item_concepts=concepts())
    assert evidence.user_topics == ("heist", "crime", "thriller")
    assert evidence.item_topics == ("crime", "thriller", "heist")
    opening = evidence.opening
    composed = {
        "This viewer enjoys heist thrillers.": f"{opening} you enjoy heist thrillers.",
        "Reason: It is a tense crime story, with a focus on slow burn": f"{opening} it is a tense crime story.",
        '"The viewer likes crime films because it is a heist movie."': f"{opening} it is a heist movie.",
        f"{opening} it is a heist.": f"{opening} it is a heist.",
    }
    for raw, sentence in composed.items():
        assert compose_reason(raw, opening) == sentence
        assert validate_explanation(compose_reason(raw, opening), evidence, mentions=mentions) == sentence
    # The code writes the item, so "wrong item" cannot happen; every other check still applies.
    assert compose_reason("This viewer enjoys heist films, and is a fan of crime.", opening) == (
        f"{opening} you enjoy heist films."
    )
    rejects = {
        "It is a heist, a crime film, a heist, a crime film.": "repetitive",
        "It is like Toy Story.": "unsupported title",
        "It is a horror film.": "unsupported concept",
        "It is a great pick.": "cites nothing",
        "": "too short",
    }
    for raw, reason in rejects.items():
        with pytest.raises(ValueError, match=reason):
            validate_explanation(compose_reason(raw, opening), evidence, mentions=mentions)
    # "Heat" (1995) named in the opening is not also a citation of "Heat" (1986).
    assert validate_explanation(f"{opening} it is a crime thriller.", evidence, mentions=mentions)


def test_a_title_spelled_like_an_allowed_concept_names_the_concept() -> None:
    from interestlm.profiles.lm_summary import check_citations

    mentions = MentionIndex(["Children, The (2008)", "Heat (1995)"], ["children", "animation"])
    # "children" is one way of writing "Children, The (2008)" and an allowed concept: the concept.
    check_citations("a film for children", mentions=mentions, allowed_items={1}, allowed_concepts={"children"})
    with pytest.raises(ValueError, match="unsupported title"):
        check_citations("a film for children", mentions=mentions, allowed_items={1}, allowed_concepts={"animation"})


def test_summary_validator_checks_citations_and_polarity() -> None:
    mentions = MentionIndex(TITLES, NAMES)
    facts = SummaryFacts(interests=(("crime & thriller", 0.6), ("animation", 0.4)), liked=(0, 3), lately="animation",
                         dislikes=("horror",))
    line = "Mostly into crime & thriller (60%) and animation (40%); lately: animation. Dislikes: horror."
    assert facts.line() == line
    good = "This viewer is into crime and thriller films like Heat, with animation lately; horror is not for them."
    assert validate_summary(good, facts, mentions=mentions) == good
    assert validate_summary("enjoys crime and animation.", facts, mentions=mentions).startswith("This viewer enjoys")
    rejects = {
        "loves crime stories and horror.": "wrong polarity",
        "does not like crime at all, prefers animation.": "wrong polarity",
        "is mostly into crime, like The Godfather.": "unsupported title",
        "is mostly into crime and comedy.": "unsupported concept",
        "is a person with many tastes and opinions.": "no interest",
        "The 2023 season of a show about crime.": "off topic",
    }
    for text, reason in rejects.items():
        with pytest.raises(ValueError, match=reason):
            validate_summary(text, facts, mentions=mentions)


def test_taste_rules_split_likes_from_dislikes() -> None:
    vocabulary = ConceptVocabulary(concepts())
    taste = parse_taste_rules("I love slow-burn sci-fi, hate horror", vocabulary)
    assert taste.likes == ("slow burn", "sci fi") and taste.dislikes == ("horror",) and taste.source == "template"
    taste = parse_taste_rules("Comedies and thrillers please; but I can't stand dramas.", vocabulary)
    assert taste.likes == ("comedy", "thriller") and taste.dislikes == ("drama",)


def test_taste_lines_must_use_the_topics_shown() -> None:
    vocabulary = ConceptVocabulary(concepts())
    shown = ["sci fi", "horror", "comedy"]
    # The prompt ends with "Likes:", so the reply starts with the likes themselves.
    taste = validate_taste(" Sci-Fi and comedies, but not drama\nDislikes: horror", shown, vocabulary)
    assert taste.likes == ("sci fi", "comedy") and taste.dislikes == ("horror",)
    negated = validate_taste("Likes: sci fi, but I'm not a fan of comedy", shown, vocabulary)
    assert negated.likes == ("sci fi",) and negated.dislikes == ("comedy",)
    for raw in ("drama and thrillers", "space opera", "Likes:\nDislikes:", "I am a helpful assistant."):
        with pytest.raises(ValueError, match="empty"):
            validate_taste(raw, shown, vocabulary)
    rules = parse_taste_rules("I love comedy but hate horror", vocabulary)
    with pytest.raises(ValueError, match="wrong polarity"):
        validate_taste("horror", shown, vocabulary, rules)
    merged = validate_taste("sci fi", shown, vocabulary, rules)
    assert merged.likes == ("comedy", "sci fi") and merged.dislikes == ("horror",)


def test_thin_item_concepts_come_only_from_the_topics_shown() -> None:
    from interestlm.concepts.lm import add_item_concepts, thin_items, validate_choice

    ic = concepts()
    assert thin_items(ic).tolist() == [5]  # "Up" has one concept
    shown = ["comedy", "animation", "sci fi", "drama"]
    assert validate_choice("Animation, comedies? no: comedy", shown, k=3) == ["comedy", "animation"]
    for raw, reason in {"horror and heist": "empty", "comedy, animation, sci fi, drama": "no choice"}.items():
        with pytest.raises(ValueError, match=reason):
            validate_choice(raw, shown, k=1)
    richer = add_item_concepts(ic, {5: ("comedy",)})
    assert richer.of_item(5) == [(NAMES.index("animation"), 1.0), (NAMES.index("comedy"), 0.5)]
    assert thin_items(richer).size == 0 and ic.of_item(5) == [(NAMES.index("animation"), 1.0)]


def test_thin_item_enrichment_is_off_by_default_validated_and_counted_without_a_model() -> None:
    from interestlm.concepts import ConceptConfig
    from interestlm.concepts.lm import enrich_thin_items

    assert ConceptConfig().lm_thin_items is False
    for bad in ({"lm_weight": 0.0}, {"lm_min_concepts": 0}, {"lm_max_items": -1}):
        with pytest.raises(ValueError, match="ConceptConfig"):
            ConceptConfig(**bad)
    from dataclasses import replace

    vectors = np.eye(len(TITLES), 4, dtype=np.float32)
    generator = Generator(TemplateLM())
    ids = [str(i) for i in range(len(TITLES))]
    with pytest.raises(ValueError, match=r"needs ItemConcepts\.vectors"):
        enrich_thin_items(concepts(), generator, item_vectors=vectors, texts=TITLES, item_ids=ids)
    ic = replace(concepts(), vectors=np.eye(len(NAMES), 4, dtype=np.float32))
    with pytest.raises(ValueError, match="one item id and text per item"):
        enrich_thin_items(ic, generator, item_vectors=vectors, texts=TITLES, item_ids=["a"])
    same, record = enrich_thin_items(ic, generator, item_vectors=vectors, texts=TITLES, item_ids=ids)
    # The template "model" writes nothing: the thin item is asked about, nothing is added.
    assert same is ic and record["source"] == "template" and record["prompt"] == "item_concepts.v1"
    assert (record["thin_items"], record["asked"], record["enriched"], record["calls"]) == (1, 1, 0, 0)
