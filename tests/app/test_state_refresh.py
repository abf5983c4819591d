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
