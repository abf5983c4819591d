"""The README's curl walk-through, step by step, on the demo graph (as `make run` serves it): what the
README shows each call return is what it returns (the facts, relations and their order; scores vary
with the model, so they are checked to be probabilities)."""

from __future__ import annotations

from kgrel.app.config import Settings
from tests.conftest import make_client

MUSIC = """@prefix ex: <http://example.org/music/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:Carmen a ex:Opera ; rdfs:label "Carmen"@en .
ex:Bizet a ex:Composer ; rdfs:label "Georges Bizet"@en .
ex:Opera rdfs:label "opera"@en ; rdfs:subClassOf ex:MusicalWork .
"""


def test_the_readme_walkthrough_on_the_demo_graph(tmp_path, model):
    with make_client(Settings(data_dir=tmp_path / "var", load_demo=True), model) as c:
        r = c.post("/graph/triples", content=MUSIC.encode(), headers={"Content-Type": "text/turtle"})
        assert r.json()["added"] == 6 and r.json()["parsed"] == 6
        r = c.post("/relations", json={"id": "ex:composer", "label": "composer", "aliases": ["composed by", "music by"],
                                       "description": "person who wrote the music of a musical work"})
        assert r.status_code == 201
        r = c.post("/relations/ex:composer/examples", json=[
            {"text": "Carmen is an opera composed by Georges Bizet.", "head": {"start": 0, "end": 6},
             "tail": {"start": 31, "end": 44}},
            {"tokens": ["Swan", "Lake", "is", "a", "ballet", "by", "Pyotr", "Tchaikovsky", "."],
             "h": ["Swan Lake", "Q12", [[0, 1]]], "t": ["Pyotr Tchaikovsky", "Q7315", [[6, 7]]]}])
        assert r.json()["added"] == 2
        r = c.post("/predict", json={"text": "The Magic Flute was composed by Wolfgang Amadeus Mozart in 1791.",
                                     "head": {"start": 0, "end": 15}, "tail": {"start": 32, "end": 55}, "top_k": 3})
        predictions = r.json()["predictions"]
        # The relation with examples first; the demo graph's own "composer" (Wikidata P86) among the next.
        assert predictions[0]["curie"] == "ex:composer" and "wdt:P86" in [p["curie"] for p in predictions[1:]]
        assert not r.json()["none_of_the_above"] and all(0 < p["score"] <= 1 for p in predictions)
        r = c.post("/extract", json={"text": "Carmen premiered in Paris in 1875. Georges Bizet wrote Carmen after a "
                                             "novella.", "candidates": ["ex:composer"], "threshold": 0.3})
        [fact] = r.json()["facts"]  # one fact: the pair is asked both ways, one direction is kept
        assert (fact["head_label"], fact["curie"], fact["tail_label"]) == ("Carmen", "ex:composer", "Georges Bizet")
        assert fact["sentence_start"] == 35 and fact["head_span"]["start"] == 55
        assert fact["head_span"]["linked_by"] == fact["tail_span"]["linked_by"] == "name"
        # The demo graph declares no algebra; as "How it works" says, relations it states both ways read as
        # symmetric (spouse, sibling, unmarried partner, diplomatic relation), "influenced by" does not.
        relations = {r["curie"]: r for r in c.get("/relations").json()}
        assert {curie for curie, r in relations.items() if r["observed_symmetric"]} == \
            {"wdt:P26", "wdt:P3373", "wdt:P451", "wdt:P530"}
        assert not relations["wdt:P737"]["observed_symmetric"]
