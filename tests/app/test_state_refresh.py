"""What the next request sees after a write: relations and examples at once; facts, in the background,
without stalling it."""

import time

from tests.app.test_api_labelling import MUSIC


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_fact_does_not_rebuild_on_the_request_path(onto_client):
    predictions = onto_client.app.state.service.predictions
    before = predictions.state()
    r = onto_client.post("/graph/triples", params={"graph": "ex:unrelated"},
                         content=b"<http://example.org/x> <http://example.org/spouse> <http://example.org/y> .",
                         headers={"Content-Type": "application/n-triples"})
    assert r.status_code == 200
    assert predictions.state() is before  # served at once with the current state ...
    assert wait_for(lambda: predictions.state() is not before)  # ... and refreshed behind it


def test_relations_and_examples_are_seen_by_the_next_request(onto_client):
    predictions = onto_client.app.state.service.predictions
    predictions.state()
    r = onto_client.post("/relations", json={"id": "ex:composer", "label": "composer"})
    assert r.status_code == 201
    assert predictions.state().prototypes.index("http://example.org/composer") is not None
    onto_client.post("/graph/triples", content=MUSIC.encode(), headers={"Content-Type": "text/turtle"})
    example = {"text": "The Magic Flute was composed by Mozart.", "head": {"start": 0, "end": 15},
               "tail": {"start": 32, "end": 38}}
    assert onto_client.post("/relations/ex:composer/examples", json=example).status_code == 201
    protos = predictions.state().prototypes
    assert int(protos.k[protos.index("http://example.org/composer")]) == 1


def test_new_entity_names_link_at_once(onto_client):
    r = onto_client.post("/graph/triples", content=b'<http://example.org/zed> <http://www.w3.org/2000/01/'
                                                   b'rdf-schema#label> "Zedland" .',
                         headers={"Content-Type": "application/n-triples"})
    assert r.status_code == 200
    assert onto_client.app.state.service.graph.label_index().lookup("Zedland") == ["http://example.org/zed"]


def test_facts_of_no_relation_rebuild_nothing(onto_client):
    predictions = onto_client.app.state.service.predictions
    before = predictions.refresh()
    r = onto_client.post("/graph/triples", params={"graph": "urn:load"},
                         content=b'<urn:load:1> <urn:load:p> "1" .', headers={"Content-Type": "application/n-triples"})
    assert r.status_code == 200
    assert predictions.refresh() is before  # urn:load:p is no relation: nothing to recompute


def test_new_facts_move_that_relations_observed_classes(onto_client):
    predictions = onto_client.app.state.service.predictions
    onto_client.post("/relations", json={"id": "ex:mentor", "label": "mentor"})  # no domain or range declared
    turtle = ("@prefix ex: <http://example.org/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . "
              'ex:Teacher rdfs:label "teacher" . ex:Pupil rdfs:label "pupil" . '
              "ex:t1 a ex:Teacher . ex:p1 a ex:Pupil . ex:t2 a ex:Teacher . ex:p2 a ex:Pupil .")
    onto_client.post("/graph/triples", content=turtle.encode(), headers={"Content-Type": "text/turtle"})
    predictions.refresh()
    assert predictions._built.observed["http://example.org/mentor"] == ([], [])  # no facts yet
    facts = b"@prefix ex: <http://example.org/> . ex:t1 ex:mentor ex:p1 . ex:t2 ex:mentor ex:p2 ."
    onto_client.post("/graph/triples", content=facts, headers={"Content-Type": "text/turtle"})
    predictions.refresh()
    assert predictions._built.observed["http://example.org/mentor"] == (["teacher"], ["pupil"])


def test_examples_naming_typed_entities_give_a_relation_without_facts_its_observed_classes(onto_client):
    """Five examples of a new relation are a curator's reading of five facts: their entities' classes are the
    relation's observed domain and range (type evidence), as its facts' would be."""
    predictions = onto_client.app.state.service.predictions
    onto_client.post("/relations", json={"id": "ex:mentor", "label": "mentor"})
    turtle = ("@prefix ex: <http://example.org/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . "
              'ex:Teacher rdfs:label "teacher" . ex:Pupil rdfs:label "pupil" . '
              'ex:t1 a ex:Teacher ; rdfs:label "Ada" . ex:p1 a ex:Pupil ; rdfs:label "Ben" .')
    onto_client.post("/graph/triples", content=turtle.encode(), headers={"Content-Type": "text/turtle"})
    predictions.refresh()
    assert predictions._built.observed["http://example.org/mentor"] == ([], [])
    unlinked = {"text": "Cal taught Dee for years.", "head": {"start": 0, "end": 3}, "tail": {"start": 11, "end": 14}}
    assert onto_client.post("/relations/ex:mentor/examples", json=unlinked).status_code == 201
    predictions.refresh()
    assert predictions._built.observed["http://example.org/mentor"] == ([], [])  # names no graph entity
    linked = {"text": "Ada taught Ben for years.", "head": {"start": 0, "end": 3, "entity": "ex:t1"},
              "tail": {"start": 11, "end": 14, "entity": "ex:p1"}}
    assert onto_client.post("/relations/ex:mentor/examples", json=linked).status_code == 201
    predictions.refresh()
    assert predictions._built.observed["http://example.org/mentor"] == (["teacher"], ["pupil"])
    info = onto_client.get("/relations/ex:mentor").json()
    assert info["examples"] == 2


def test_a_relation_whose_facts_are_stated_both_ways_is_read_as_symmetric(onto_client):
    """Undeclared, "sibling" is asymmetric: a pair the model reads both ways is a fact of doubtful direction.
    Once the graph states its facts both ways it is one fact, scored alike whichever way it is asked."""
    predictions = onto_client.app.state.service.predictions
    onto_client.post("/relations", json={"id": "ex:sibling", "label": "sibling", "aliases": ["brother", "sister"]})
    text = "Alice and her brother Bob grew up in Leeds."
    asked = {"text": text, "head": {"start": 0, "end": 5}, "tail": {"start": 22, "end": 25}, "top_k": 7}
    flipped = {**asked, "head": asked["tail"], "tail": asked["head"]}

    def sibling(body):
        preds = onto_client.post("/predict", json=body).json()["predictions"]
        return next(p for p in preds if p["curie"] == "ex:sibling")

    before, before_flipped = sibling(asked), sibling(flipped)
    assert onto_client.get("/relations/ex:sibling").json()["observed_symmetric"] is False
    facts = b"@prefix ex: <http://example.org/> . ex:a ex:sibling ex:b . ex:b ex:sibling ex:a . " \
            b"ex:c ex:sibling ex:d . ex:d ex:sibling ex:c . ex:e ex:sibling ex:f ."
    onto_client.post("/graph/triples", content=facts, headers={"Content-Type": "text/turtle"})
    predictions.refresh()
    protos = predictions._built.state.prototypes
    assert bool(protos.algebra.symmetric[protos.index("http://example.org/sibling")]) is True
    listed = onto_client.get("/relations/ex:sibling").json()
    assert listed["observed_symmetric"] is True and listed["symmetric"] is False
    after, after_flipped = sibling(asked), sibling(flipped)
    # One fact, stated in the order asked, with the better reading's score: never below the asymmetric one
    # (equal to it when the other reading scores near zero, since p (1 - q) / (1 - p q) is then p).
    assert not after["reversed"] and not after_flipped["reversed"]
    assert after["score"] == after_flipped["score"] >= max(before["score"], before_flipped["score"])
