"""Correcting the graph: SPARQL 1.1 Update and the Graph Store HTTP Protocol, atomic, behind the write key."""

from __future__ import annotations

import pytest

from kgrel.app.config import Settings
from tests.app.test_hostile import Listener
from tests.conftest import DATA, make_client

TTL = {"Content-Type": "text/turtle"}
UPDATE = {"Content-Type": "application/sparql-update"}


def ask(client, query: str) -> bool:
    return client.get("/graph/sparql", params={"query": query}).json()["boolean"]


def test_update_applies_in_one_transaction(onto_client):
    c = onto_client
    r = c.post("/graph/update", content="INSERT DATA { ex:ada ex:spouse ex:lovelace }", headers=UPDATE)
    assert r.status_code == 204
    assert ask(c, "ASK { ex:ada ex:spouse ex:lovelace }")
    # The second operation fails (the graph does not exist): the first is not applied either.
    r = c.post("/graph/update", content="DELETE DATA { ex:ada ex:spouse ex:lovelace } ; DROP GRAPH <urn:none>",
               headers=UPDATE)
    assert r.status_code == 400 and "nothing was changed" in r.json()["detail"]
    assert ask(c, "ASK { ex:ada ex:spouse ex:lovelace }")
    r = c.post("/graph/update", data={"update": "DELETE WHERE { ex:ada ?p ?o }"})
    assert r.status_code == 204
    assert not ask(c, "ASK { ex:ada ?p ?o }")


def test_update_errors_name_the_problem(onto_client):
    c = onto_client
    r = c.post("/graph/update", content="SELECT * { ?s ?p ?o }", headers=UPDATE)
    assert r.status_code == 400 and "/graph/sparql" in r.json()["detail"]
    r = c.post("/graph/update", content="INSERT DATA { nope:a ex:b ex:c }", headers=UPDATE)
    assert r.status_code == 400
    assert c.post("/graph/update", content="INSERT DATA {}", headers=TTL).status_code == 415
    r = c.post("/graph/sparql", content="INSERT DATA { ex:a ex:b ex:c }", headers=UPDATE)
    assert r.status_code == 400 and "/graph/update" in r.json()["detail"]


def test_update_cannot_fetch_urls(onto_client):
    listener = Listener()
    try:
        for text in (f"LOAD <http://127.0.0.1:{listener.port}/data.ttl>",
                     f"INSERT {{ ?s ?p ?o }} WHERE {{ SERVICE <http://127.0.0.1:{listener.port}/> {{ ?s ?p ?o }} }}"):
            r = onto_client.post("/graph/update", content=text, headers=UPDATE)
            assert r.status_code == 403, r.text
        assert listener.connections == 0
    finally:
        listener.close()


def test_a_relation_changed_by_update_is_seen_by_the_next_request(onto_client):
    c = onto_client
    r = c.post("/graph/update", content='INSERT DATA { ex:mentor a owl:ObjectProperty ; rdfs:label "mentor" }',
               headers=UPDATE)
    assert r.status_code == 204
    assert c.get("/relations/ex:mentor").json()["label"] == "mentor"
    body = {"text": "Socrates taught Plato.", "head": {"start": 0, "end": 8}, "tail": {"start": 16, "end": 21},
            "candidates": ["ex:mentor", "ex:spouse"]}
    assert c.post("/predict", json=body).status_code == 200  # the new relation is a known candidate
    c.post("/graph/update", content="DELETE WHERE { ex:mentor ?p ?o }", headers=UPDATE)
    assert c.post("/predict", json=body).status_code == 422  # and gone once deleted


def test_graph_store_protocol(onto_client):
    c = onto_client
    doc = "@prefix ex: <http://example.org/> . ex:a ex:knows ex:b . ex:b ex:knows ex:c ."
    r = c.put("/graph/store", params={"graph": "ex:people"}, content=doc, headers=TTL)
    assert r.status_code == 201 and r.json()["parsed"] == 2
    r = c.put("/graph/store", params={"graph": "ex:people"}, content="<http://example.org/a> "
              "<http://example.org/knows> <http://example.org/z> .", headers={"Content-Type": "application/n-triples"})
    assert r.status_code == 200  # replaced, not added to
    got = c.get("/graph/store", params={"graph": "ex:people"}, headers={"Accept": "application/n-triples"})
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/n-triples")
    assert got.text.strip() == "<http://example.org/a> <http://example.org/knows> <http://example.org/z> ."
    r = c.post("/graph/store", params={"graph": "ex:people"}, content=doc, headers=TTL)
    assert r.status_code == 200 and r.json()["added"] == 2
    assert c.get("/graph/store", params={"graph": "ex:people"}).headers["content-type"].startswith("text/turtle")
    assert c.delete("/graph/store", params={"graph": "ex:people"}).status_code == 204
    assert c.get("/graph/store", params={"graph": "ex:people"}).status_code == 404
    assert c.delete("/graph/store", params={"graph": "ex:people"}).status_code == 404
    assert c.get("/graph/store").status_code == 400  # neither ?graph nor ?default
    assert c.get("/graph/store?default").status_code == 200


def test_failed_put_changes_nothing(onto_client):
    c = onto_client
    c.put("/graph/store", params={"graph": "ex:keep"}, content="<urn:a> <urn:b> <urn:c> .",
          headers={"Content-Type": "application/n-triples"})
    r = c.put("/graph/store", params={"graph": "ex:keep"}, content="<urn:a> <urn:b> .",
              headers={"Content-Type": "application/n-triples"})
    assert r.status_code == 400
    r = c.put("/graph/store", params={"graph": "ex:keep"}, content=b"<urn:x> <urn:y> <urn:z> <urn:other> .",
              headers={"Content-Type": "application/n-quads"})
    assert r.status_code == 400 and "one graph" in r.json()["detail"]
    assert ask(c, "ASK { GRAPH ex:keep { <urn:a> <urn:b> <urn:c> } }")


@pytest.mark.parametrize("method, path", [("post", "/graph/update"), ("put", "/graph/store"),
                                          ("post", "/graph/store"), ("delete", "/graph/store")])
def test_corrections_need_the_write_key(tmp_path, model, method, path):
    settings = Settings(data_dir=tmp_path / "var", api_key="w", read_key="r")
    with make_client(settings, model) as c:
        c.post("/graph/triples", content=(DATA / "ontology.ttl").read_bytes(), headers={**TTL, "X-API-Key": "w"})
        kwargs = {} if method == "delete" else {"content": "<urn:a> <urn:b> <urn:c> .",
                                                 "headers": {"Content-Type": "application/n-triples"}}
        params = {"graph": "urn:g"}
        read = getattr(c, method)(path, params=params, **{**kwargs, "headers": {
            **kwargs.get("headers", {}), "X-API-Key": "r"}})
        assert read.status_code == 403
        assert c.get("/graph/store", params={"graph": "ex:x"}, headers={"X-API-Key": "r"}).status_code == 404


def test_labelling_follows_a_hand_correction(onto_client):
    from tests.app.test_api_labelling import MUSIC, TEXT

    c = onto_client
    c.post("/graph/triples", content=MUSIC.encode(), headers=TTL)
    assert c.post("/relations", json={"id": "ex:composer", "label": "composer"}).status_code == 201
    sid = c.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
    c.post(f"/sessions/{sid}/texts", json={"text": TEXT})
    first = c.get(f"/sessions/{sid}/suggestions").json()[0]
    accepted = c.post(f"/sessions/{sid}/suggestions/{first['id']}", json={"decision": "accept"}).json()
    assert c.get(f"/sessions/{sid}").json()["counts"]["accepted"] == 1
    # A curator withdraws the decision and its example by hand: the session offers the pair again.
    graph = f"urn:kgrel:graph:session:{sid}"
    r = c.post("/graph/update", headers=UPDATE, content=(
        f"DELETE WHERE {{ GRAPH <{graph}> {{ ?d a kgrel:Decision ; ?p ?o }} }} ; "
        f"DELETE WHERE {{ GRAPH <urn:kgrel:graph:examples> {{ <{accepted['example']}> ?p2 ?o2 }} }}"))
    assert r.status_code == 204
    session = c.get(f"/sessions/{sid}").json()
    assert session["counts"]["accepted"] == 0 and session["examples"] == 0
    assert first["id"] in {s["id"] for s in c.get(f"/sessions/{sid}/suggestions", params={"n": 20}).json()}
