from hypothesis import given
from hypothesis import strategies as st

from interestlm.core.names import normalise_name


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
