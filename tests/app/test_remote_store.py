"""The whole API over a remote store, for each SPARQL server kgrel supports (each started by the test):
ingest, relations and examples, predictions that use them, a labelling accept, SPARQL, deletion."""

from __future__ import annotations

import pytest

from kgrel.app.config import Settings
from tests.app.test_api_labelling import MUSIC, TEXT
from tests.conftest import DATA, make_client

TTL = {"Content-Type": "text/turtle"}


@pytest.fixture(params=["oxigraph", "virtuoso"])
def remote_settings(request, tmp_path) -> Settings:
    if request.param == "oxigraph":
        url, engine = request.getfixturevalue("oxigraph_server") + "/query", "sparql11"
    else:
        url, engine = request.getfixturevalue("virtuoso_server"), "virtuoso"
    return Settings(data_dir=tmp_path / "var", store=url, store_engine=engine)


def test_the_api_over_each_remote_engine(remote_settings, model):
    with make_client(remote_settings, model) as c:
        assert c.get("/health").json()["store_reachable"] is True
        for body in ((DATA / "ontology.ttl").read_bytes(), MUSIC.encode()):
            r = c.post("/graph/triples", content=body, headers=TTL)
            assert r.status_code == 200 and r.json()["rewritten"] is None  # a remote store cannot tell
        assert c.post("/relations", json={"id": "ex:composer", "label": "composer",
                                          "description": "person who wrote the music"}).status_code == 201
        assert {r["curie"] for r in c.get("/relations").json()} >= {"ex:composer", "ex:spouse"}
        # Facts stated both ways make an undeclared relation read as symmetric, on every engine.
        assert c.post("/relations", json={"id": "ex:sibling", "label": "sibling"}).status_code == 201
        assert c.get("/relations/ex:sibling").json()["observed_symmetric"] is False
        both_ways = "@prefix ex: <http://example.org/> . " + " ".join(
            f"ex:s{i} ex:sibling ex:t{i} . ex:t{i} ex:sibling ex:s{i} ." for i in range(2))
        assert c.post("/graph/triples", content=both_ways.encode(), headers=TTL).status_code == 200
        assert c.get("/relations/ex:sibling").json()["observed_symmetric"] is True
        example = {"text": "The Magic Flute was composed by Mozart.", "head": {"start": 0, "end": 15},
                   "tail": {"start": 32, "end": 38}}
        assert c.post("/relations/ex:composer/examples", json=example).status_code == 201
        assert c.get("/relations/ex:composer").json()["examples"] == 1
        predicted = c.post("/predict", json={**example, "candidates": ["ex:composer", "ex:spouse"]}).json()
        assert predicted["predictions"][0]["curie"] == "ex:composer"
        # A labelling accept: example, fact and decision in the remote store.
        sid = c.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
        c.post(f"/sessions/{sid}/texts", json={"text": TEXT})
        first = c.get(f"/sessions/{sid}/suggestions").json()[0]
        r = c.post(f"/sessions/{sid}/suggestions/{first['id']}", json={"decision": "accept"})
        assert r.status_code == 200 and r.json()["example"]
        ask = f"ASK {{ GRAPH <urn:kgrel:graph:session:{sid}> {{ ?d a kgrel:Decision }} }}"
        assert c.get("/graph/sparql", params={"query": ask}).json()["boolean"] is True
        rows = c.get("/graph/sparql", params={"query": "SELECT ?l WHERE { ex:composer rdfs:label ?l }"},
                     headers={"Accept": "text/csv"}).text.splitlines()
        assert rows == ["l", "composer"]
        assert c.delete("/relations/ex:composer").status_code == 204
        assert c.get("/relations/ex:composer").status_code == 404
