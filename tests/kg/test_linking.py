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


def test_a_close_spelling_links_a_long_name_and_says_so():
    index = LabelIndex({name_key(n): [iri] for n, iri in [
        ("Pyotr Tchaikovsky", "tch"), ("Mozart", "moz"), ("Poland", "pl"), ("Oman", "om"), ("Colombia", "co")]})
    found = index.find("Pyotr Tchaikowsky met Mozzart in Portland with a Roman Woman from Columbia.")
    assert [(m.text, m.entity, m.how) for m in found] == [
        ("Pyotr Tchaikowsky", "tch", "spelling"), ("Mozzart", "moz", "spelling")]
    assert 0.88 <= found[0].score < 1 and found[0].link == ("spelling", found[0].score)
    # Close spellings that are other names are not taken: short words ("Roman" / "Oman"), a different
    # first letter ("Woman"), a ratio below the cutoff ("Portland" / "Poland", "Columbia" / "Colombia").
    assert index.find("Mozzart", fuzzy=False) == []
    # Exact names are never second-guessed by spelling, and a run's words are tried one by one.
    [exact] = index.find("Mozart.")
    assert (exact.how, exact.score, exact.link) == ("name", 1.0, ("name", None))
    [word] = index.find("Herr Wolfgang Mozzart")
    assert (word.text, word.entity) == ("Mozzart", "moz")


def test_a_misspelt_name_is_not_cut_into_a_shorter_exact_name():
    index = LabelIndex({name_key(n): [iri] for n, iri in [
        ("Jeff", "jeff"), ("Jeff Mayweather", "jm"), ("World War I", "ww1"), ("Second World War", "ww2")]})
    # The stretch of the run that matches a name by spelling wins over the exact "Jeff" inside it.
    assert [(m.text, m.entity, m.how) for m in index.find("Boxer Jeff Mayewather lost.")] == [
        ("Jeff Mayewather", "jm", "spelling")]
    # A word more or less is another name, not a spelling of it; an exact name is not cut in two.
    assert index.find("World War II ended.") == []
    assert [m.entity for m in index.find("The Second World War ended.")] == ["ww2"]


def test_names_several_entities_carry_are_chosen_by_neighbours_and_classes(tmp_path):
    import pyoxigraph as ox

    from kgrel.kg.disambiguation import link_sentences
    from kgrel.kg.ingest import ingest
    from kgrel.kg.store import open_store

    store = open_store(tmp_path / "store")
    ingest(store, b"""@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:Opera rdfs:label "opera" . ex:Soprano rdfs:subClassOf ex:Singer . ex:Singer rdfs:label "singer" .
ex:aida a ex:Opera ; rdfs:label "Aida" ; ex:composer ex:verdi .
ex:aida_h a ex:Soprano ; rdfs:label "Aida" .
ex:verdi rdfs:label "Giuseppe Verdi" . ex:cairo rdfs:label "Cairo" .""", ox.RdfFormat.TURTLE)
    index = LabelIndex.build(store)
    ex = "http://example.org/"

    def aida(*sentences):
        found = link_sentences(store, index, list(sentences))
        return [(m.entity, m.how) for f in found for m in f if m.text == "Aida"]

    # A fact with an entity of the same document picks the opera, also from another sentence.
    assert aida("Aida was written by Giuseppe Verdi.") == [(ex + "aida", "context")]
    assert aida("Verdi was paid in gold.", "Aida opened in Cairo.", "Giuseppe Verdi was not there.") == [
        (ex + "aida", "context")]
    # A word of a class label in the sentence, up the subclass chain, picks the soprano.
    assert aida("The singers included Aida.") == [(ex + "aida_h", "context")]
    # No evidence, or as much for both: left unlinked and reported as ambiguous.
    found = link_sentences(store, index, ["Aida opened in Cairo."])[0]
    assert [(m.text, m.entity, m.ambiguous) for m in found] == [("Aida", None, True), ("Cairo", ex + "cairo", False)]
    assert aida("The singer Aida sang in the opera by Giuseppe Verdi.") == [(ex + "aida", "context")]
    assert aida("The singer Aida sang in an opera.") == [(None, "name")]
    store.close()
