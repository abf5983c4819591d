"""Relation algebra over HTTP: symmetric and inverse relations from the graph and the API, and /predict
returning one direction per fact, whichever way a pair is asked."""

from __future__ import annotations

from tests.app.test_api_relations import span

ALGEBRA = """@prefix ex: <http://example.org/> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:siblingOf a owl:ObjectProperty, owl:SymmetricProperty ; rdfs:label "sibling"@en ;
    rdfs:comment "a brother or sister of the subject"@en .
ex:hasChild a owl:ObjectProperty ; rdfs:label "has child"@en ; owl:inverseOf ex:childOf ;
    rdfs:comment "a son or daughter of the subject"@en .
ex:childOf a owl:ObjectProperty ; rdfs:label "child of"@en ; rdfs:comment "a parent of the subject"@en .
"""
SENTENCES = [
    ("The Magic Flute was composed by Wolfgang Amadeus Mozart.", "The Magic Flute", "Wolfgang Amadeus Mozart"),
    ("Dune is a novel written by Frank Herbert.", "Dune", "Frank Herbert"),
    ("Leopold Mozart was the father of Wolfgang Amadeus Mozart.", "Leopold Mozart", "Wolfgang Amadeus Mozart"),
    ("Marie Curie married Pierre Curie in 1895.", "Marie Curie", "Pierre Curie"),
    ("Jacob Grimm worked with his brother Wilhelm Grimm on the tales.", "Jacob Grimm", "Wilhelm Grimm"),
]


def facts(prediction: dict, head: str, tail: str) -> set[tuple[str, str, str]]:
    """The facts a /predict answer states, each in its own direction."""
    return {(tail, p["curie"], head) if p["reversed"] else (head, p["curie"], tail)
            for p in prediction["predictions"]}


def canonical(fact: tuple[str, str, str], relations: dict) -> tuple[str, str, str]:
    """One spelling per fact: a symmetric fact with its arguments sorted, an inverse pair under one name."""
    head, curie, tail = fact
    info = relations[curie]
    if info["symmetric"]:
        return (min(head, tail), curie, max(head, tail))
    inverse = info["inverse"] and next(c for c, r in relations.items() if r["id"] == info["inverse"])
    if inverse and inverse < curie:
        return (tail, inverse, head)
    return fact


def test_relation_algebra_is_read_from_the_graph_and_registered_through_the_api(onto_client):
    r = onto_client.post("/graph/triples", content=ALGEBRA.encode(), headers={"Content-Type": "text/turtle"})
    assert r.status_code == 200, r.text
    sibling = onto_client.get("/relations/ex:siblingOf").json()
    assert sibling["symmetric"] is True and sibling["inverse"] is None
    # owl:inverseOf is read from either side.
    assert onto_client.get("/relations/ex:hasChild").json()["inverse"] == "http://example.org/childOf"
    assert onto_client.get("/relations/ex:childOf").json()["inverse"] == "http://example.org/hasChild"
    r = onto_client.post("/relations", json={"id": "ex:twinOf", "label": "twin of", "symmetric": True})
    assert r.status_code == 201 and r.json()["symmetric"] is True
    r = onto_client.post("/relations", json={"id": "ex:composedBy", "label": "composed by", "inverse": "ex:composerOf"})
    assert r.json()["inverse"] == "http://example.org/composerOf"
    r = onto_client.post("/relations", json={"id": "ex:odd", "label": "odd", "symmetric": True, "inverse": "ex:x"})
    assert r.status_code == 422 and "symmetric" in r.text
    ask = "ASK { ex:twinOf a owl:SymmetricProperty . ex:composedBy owl:inverseOf ex:composerOf }"
    assert onto_client.get("/graph/sparql", params={"query": ask}).json()["boolean"] is True


def test_a_pair_asked_both_ways_states_the_same_facts_once(onto_client):
    onto_client.post("/graph/triples", content=ALGEBRA.encode(), headers={"Content-Type": "text/turtle"})
    relations = {r["curie"]: r for r in onto_client.get("/relations").json()}
    for text, a, b in SENTENCES:
        asked, flipped = onto_client.post("/predict", json=[{**span(text, a, b), "top_k": 20, "threshold": 0.0},
                                                            {**span(text, b, a), "top_k": 20, "threshold": 0.0}]).json()
        one, other = facts(asked, a, b), facts(flipped, b, a)
        assert len({canonical(f, relations) for f in one}) == len(one)  # no fact stated twice
        one, other = {canonical(f, relations) for f in one}, {canonical(f, relations) for f in other}
        # The same facts whichever way the pair was asked, and never both directions of one relation.
        assert one and one == other, text
        assert not {(t, r, h) for h, r, t in one} & one
        for curie in {r for _, r, _ in one}:
            # A symmetric relation is stated as asked; a relation with an inverse among the candidates never
            # appears reversed (it is the inverse's forward fact).
            if relations[curie]["symmetric"] or relations[curie]["inverse"]:
                assert all(not p["reversed"] for p in asked["predictions"] if p["curie"] == curie)
        # hasChild and childOf are one fact read two ways: only one of them is stated for a pair.
        assert not ({(a, "ex:hasChild", b), (a, "ex:childOf", b)} <= one)
        assert not ({(b, "ex:hasChild", a), (b, "ex:childOf", a)} <= one)
