"""/health, /graph/triples and /graph/sparql over HTTP."""

from __future__ import annotations

import pytest

from kgrel.app.config import Settings
from tests.conftest import make_client
from tests.kg.test_store import DOCS

COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def count(client) -> int:
    r = client.get("/graph/sparql", params={"query": COUNT}, headers={"Accept": "application/sparql-results+json"})
    assert r.status_code == 200, r.text
    return int(r.json()["results"]["bindings"][0]["n"]["value"])


def test_health_reports_store_model_and_device(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["store_reachable"] and body["model_loaded"]
    assert body["device"] == "cpu"
    assert body["store"].startswith("oxigraph:")


@pytest.mark.parametrize("media", sorted(DOCS))
def test_ingest_each_format_over_http(client, media):
    r = client.post("/graph/triples", content=DOCS[media], headers={"Content-Type": media})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 2
    assert count(client) == 2


def test_ingest_into_named_graph_with_curie(client):
    client.post("/graph/triples", content=DOCS["text/turtle"], headers={"Content-Type": "text/turtle"})
    r = client.post("/graph/triples", params={"graph": "ex:mygraph"}, content=DOCS["application/n-triples"],
                    headers={"Content-Type": "application/n-triples"})
    assert r.status_code == 200
    assert r.json() == {"added": 2, "parsed": 2, "graph": "http://example.org/mygraph", "rewritten": 0,
                        "rewritten_examples": []}
    ask = client.get("/graph/sparql", params={"query": "ASK { GRAPH ex:mygraph { ex:a ex:knows ex:b } }"})
    assert ask.status_code == 200, ask.text
    assert ask.json()["boolean"] is True


def test_failed_ingest_is_400_with_line_and_inserts_nothing(client):
    client.post("/graph/triples", content=DOCS["text/turtle"], headers={"Content-Type": "text/turtle"})
    before = count(client)
    bad = b'@prefix ex: <http://example.org/> .\nex:x ex:knows ex:y .\nex:z ex:knows ex:w ;\n    ex:name "open .\n'
    r = client.post("/graph/triples", content=bad, headers={"Content-Type": "text/turtle"})
    assert r.status_code == 400
    body = r.json()
    assert body["line"] == 4 and "line 4" in body["detail"]
    assert count(client) == before


def test_unsupported_content_type_is_415(client):
    r = client.post("/graph/triples", content=b"a,b,c", headers={"Content-Type": "text/csv"})
    assert r.status_code == 415
    assert "text/turtle" in r.json()["detail"]


def test_sparql_accept_negotiation(client):
    client.post("/graph/triples", content=DOCS["text/turtle"], headers={"Content-Type": "text/turtle"})
    select = "SELECT ?o WHERE { ex:a ex:knows ?o }"
    r = client.get("/graph/sparql", params={"query": select}, headers={"Accept": "text/csv"})
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines() == ["o", "http://example.org/b"]
    r = client.post("/graph/sparql", content=select, headers={"Content-Type": "application/sparql-query"})
    assert r.json()["results"]["bindings"][0]["o"]["value"] == "http://example.org/b"
    r = client.post("/graph/sparql", data={"query": "CONSTRUCT WHERE { ?s ex:knows ?o }"},
                    headers={"Accept": "text/turtle"})
    assert r.headers["content-type"].startswith("text/turtle") and "ex:a ex:knows ex:b" in r.text
    r = client.get("/graph/sparql", params={"query": "DESCRIBE ex:a"}, headers={"Accept": "application/n-triples"})
    assert r.status_code == 200 and "<http://example.org/a>" in r.text
    r = client.get("/graph/sparql", params={"query": select}, headers={"Accept": "image/png"})
    assert r.status_code == 406


def test_sparql_update_is_refused_and_changes_nothing(client):
    client.post("/graph/triples", content=DOCS["text/turtle"], headers={"Content-Type": "text/turtle"})
    update = "DELETE WHERE { ?s ?p ?o }"
    for r in (client.get("/graph/sparql", params={"query": update}),
              client.post("/graph/sparql", content=update, headers={"Content-Type": "application/sparql-query"}),
              client.post("/graph/sparql", content=update, headers={"Content-Type": "application/sparql-update"}),
              client.post("/graph/sparql", data={"update": update})):
        assert r.status_code == 400
        assert "update" in r.json()["detail"]
    assert count(client) == 2


def test_sparql_syntax_error_and_missing_query(client):
    r = client.get("/graph/sparql", params={"query": "SELECT ?x WHERE { ?x"})
    assert r.status_code == 400 and "syntax" in r.json()["detail"]
    assert client.get("/graph/sparql").status_code == 422
    r = client.post("/graph/sparql", content=b"", headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 400 and "empty" in r.json()["detail"]


def test_oversize_body_is_413(tmp_path, model):
    settings = Settings(data_dir=tmp_path / "var", max_body_bytes=2048)
    with make_client(settings, model) as c:
        r = c.post("/graph/triples", content=b"#" * 4096, headers={"Content-Type": "text/turtle"})
        assert r.status_code == 413 and "2048" in r.json()["detail"]
        r = c.post("/predict", json={"text": "x" * 5000, "head": {"start": 0, "end": 1},
                                     "tail": {"start": 2, "end": 3}})
        assert r.status_code == 413
        assert count(c) == 0


def test_api_key_protects_everything_but_health(tmp_path, model):
    settings = Settings(data_dir=tmp_path / "var", api_key="s3cret")
    with make_client(settings, model) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/relations").status_code == 401
        assert c.get("/relations", headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/relations", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/relations", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_openapi_docs_are_served_with_no_internet(client):
    import re

    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/static-docs/") for a in assets), (page, assets)  # nothing from a CDN
        for asset in assets:
            r = client.get(asset)
            assert r.status_code == 200 and len(r.content) > 1000, asset
    assert "fonts.googleapis" not in client.get("/redoc").text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/predict", "/relations", "/graph/sparql", "/graph/triples"} <= set(paths)


def test_demo_graph_loads_on_first_start_only(tmp_path, model):
    settings = Settings(data_dir=tmp_path / "var", load_demo=True)
    with make_client(settings, model) as c:
        relations = {r["curie"]: r for r in c.get("/relations").json()}
        assert len(relations) > 700
        assert relations["wdt:P26"]["label"] == "spouse"
        facts = count(c)
        ask = "ASK { ?x wdt:P26 ?y . ?x a ?class . ?class rdfs:label ?l }"
        assert c.get("/graph/sparql", params={"query": ask}).json()["boolean"] is True
        c.post("/graph/triples", content=DOCS["text/turtle"], headers={"Content-Type": "text/turtle"})
    with make_client(settings, model) as c:  # the store is not empty: nothing is loaded again
        assert count(c) == facts + 2


def test_strict_literals_refuse_what_the_store_would_rewrite(tmp_path, model):
    doc = b'<http://example.org/n> <http://example.org/v> "0042"^^<http://www.w3.org/2001/XMLSchema#int> .'
    with make_client(Settings(data_dir=tmp_path / "var", strict_literals=True), model) as c:
        r = c.post("/graph/triples", content=doc, headers={"Content-Type": "application/n-triples"})
        assert r.status_code == 422
        assert '"42"^^<http://www.w3.org/2001/XMLSchema#integer>' in r.json()["detail"]
        ask = c.get("/graph/sparql", params={"query": "ASK { <http://example.org/n> ?p ?o }"}).json()
        assert ask["boolean"] is False
        canonical = doc.replace(b'"0042"', b'"42"').replace(b"#int>", b"#integer>")
        r = c.post("/graph/triples", content=canonical, headers={"Content-Type": "application/n-triples"})
        assert r.status_code == 200 and r.json()["rewritten"] == 0


def test_an_unknown_prefix_in_sparql_is_named_with_the_known_ones(client):
    r = client.get("/graph/sparql", params={"query": "SELECT * WHERE {\n  ?s rdfs:label ?l .\n  ?s nope:x ?y }"})
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert "unknown prefix 'nope' at line 3" in detail and "rdfs" in detail and "wdt" in detail
    assert len(detail) < 400  # not the parser's list of every character it could have taken
    r = client.post("/graph/update", content="INSERT DATA { nope:a nope:b nope:c }",
                    headers={"Content-Type": "application/sparql-update"})
    assert r.status_code == 400 and "unknown prefix 'nope'" in r.json()["detail"]
