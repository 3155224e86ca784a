from hypothesis import given
from hypothesis import strategies as st

from interestlm.core.names import normalise_name, spelling_key


def test_spellings_of_one_name_meet() -> None:
    assert normalise_name("Sci-Fi") == normalise_name("sci fi") == normalise_name("  SCI_FI ") == "sci fi"
    assert normalise_name("Children's") == "childrens"
    assert normalise_name("Bath & Body") == normalise_name("bath and body")
    assert normalise_name("Film-Noir") == "film noir"
    assert normalise_name("Café  Society") == "café society"
    assert normalise_name("!!!") == ""


@given(st.text(max_size=40))
def test_normalised_names_are_fixed_points(text: str) -> None:
    name = normalise_name(text)
    assert normalise_name(name) == name
    assert name == name.strip()
    assert "  " not in name
    assert name == name.lower() or not name.isascii()


def test_spelling_keys_join_spacing_accents_and_plurals_but_not_short_words() -> None:
    assert spelling_key("Sci-Fi") == spelling_key("SciFi") == spelling_key("sci fi")
    assert spelling_key("super hero") == spelling_key("superhero")
    assert spelling_key("zombies") == spelling_key("zombie")
    assert spelling_key("Pokémon") == spelling_key("pokemon")
    assert spelling_key("blues") != spelling_key("blue")
    assert spelling_key("news") != spelling_key("new")
    assert spelling_key("glass") != spelling_key("glas")
    assert spelling_key("dragon ball") != spelling_key("doragon bôru")  # that merge needs the items (co-occurrence)


@given(st.text(max_size=40))
def test_spelling_keys_hold_no_spaces_and_ignore_normalisation(text: str) -> None:
    key = spelling_key(text)
    assert " " not in key
    assert spelling_key(normalise_name(text)) == key
