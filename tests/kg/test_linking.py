"""Linking mentions to the graph by its labels and aliases."""

from __future__ import annotations

from kgrel.kg.linking import LabelIndex, name_key


def test_dictionary_linking_on_tricky_text():
    index = LabelIndex({name_key(n): [iri] for n, iri in [
        ("New York", "ny"), ("New York Times", "nyt"), ("Jay-Z", "jz"), ("Beyoncé", "bey"), ("The", "the"),
        ("U.S.", "us")]} | {name_key("Paris"): ["paris-fr", "paris-tx"]})
    text = "The New York Times said JAY Z and beyonce (of the U.S.) left New York; Paris, too."
    found = index.find(text)
    assert [(m.text, m.entities) for m in found] == [
        ("New York Times", ["nyt"]), ("JAY Z", ["jz"]), ("beyonce", ["bey"]), ("U.S", ["us"]),
        ("New York", ["ny"]), ("Paris", ["paris-fr", "paris-tx"])]
    assert all(text[m.start:m.end] == m.text for m in found)
    assert index.link("jay-z.") == "jz" and index.link("Paris") is None  # ambiguous stays unlinked
