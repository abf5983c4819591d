"""Later short forms of a linked name: surnames, first words, acronyms, and when they are left alone."""

from __future__ import annotations

from kgrel.kg.coreference import NamedSpan, refer_back, short_forms


def test_short_forms_of_a_name():
    assert short_forms("Wilfried Schneider") == {"Wilfried", "Schneider"}
    assert short_forms("Federal Bureau of Investigation") == {"Federal", "Investigation", "FBI"}
    assert short_forms("United States") == set()  # generic words name nothing alone; two letters are no acronym
    assert short_forms("Mozart") == set()  # one word: nothing shorter


def test_a_surname_and_an_acronym_refer_back():
    text = "Wilfried Schneider joined the Federal Bureau of Investigation. Later Schneider left the FBI."
    named = [NamedSpan(0, 18, "Wilfried Schneider", "urn:ws"), NamedSpan(30, 61, "Federal Bureau of Investigation",
                                                                          "urn:fbi")]
    found = refer_back(text, named)
    assert [(text[m.start:m.end], m.entity) for m in found] == [("Schneider", "urn:ws"), ("FBI", "urn:fbi")]


def test_a_short_form_two_entities_share_is_left_alone():
    text = "Anna Schneider met Paul Schneider. Schneider smiled."
    named = [NamedSpan(0, 14, "Anna Schneider", "urn:a"), NamedSpan(19, 33, "Paul Schneider", "urn:p")]
    assert refer_back(text, named) == []


def test_a_short_form_that_is_another_entitys_name_is_left_alone():
    text = "Paris Hilton flew to Paris. Hilton stayed."
    named = [NamedSpan(0, 12, "Paris Hilton", "urn:ph"), NamedSpan(21, 26, "Paris", "urn:paris")]
    found = refer_back(text, named)
    assert [(m.text, m.entity) for m in found] == [("Hilton", "urn:ph")]
    # Words inside a longer word or a mention are not matched.
    assert refer_back("Hiltonia and Paris Hilton", [NamedSpan(13, 25, "Paris Hilton", "urn:ph")]) == []
