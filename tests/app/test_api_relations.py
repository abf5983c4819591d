"""/relations and /relations/{id}/examples over HTTP."""

from __future__ import annotations

from tests.conftest import make_client


def span(text: str, head: str, tail: str) -> dict:
    h, t = text.index(head), text.index(tail)
    return {"text": text, "head": {"start": h, "end": h + len(head)}, "tail": {"start": t, "end": t + len(tail)}}


COMPOSER = {"id": "ex:composer", "label": "composed by", "aliases": ["composer", "music by"],
            "description": "the person who wrote the music of the work"}


def test_list_relations_with_side_information(onto_client):
    relations = {r["curie"]: r for r in onto_client.get("/relations").json()}
    assert set(relations) == {"ex:spouse", "ex:birthPlace", "ex:author", "ex:employer", "ex:capital", "ex:team"}
    spouse = relations["ex:spouse"]
    assert spouse["id"] == "http://example.org/spouse"
    assert spouse["label"] == "spouse" and "married to" in spouse["aliases"]
    assert spouse["domain"] == ["person"] and spouse["examples"] == 0


def test_register_relation_and_read_it_back_through_sparql(onto_client):
    r = onto_client.post("/relations", json=COMPOSER)
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "http://example.org/composer"
    q = ("SELECT ?label ?alias ?comment WHERE { ex:composer a owl:ObjectProperty ; rdfs:label ?label ; "
         "skos:altLabel ?alias ; rdfs:comment ?comment } ORDER BY ?alias")
    rows = onto_client.get("/graph/sparql", params={"query": q}).json()["results"]["bindings"]
    assert [row["alias"]["value"] for row in rows] == ["composer", "music by"]
    assert rows[0]["label"]["value"] == "composed by"
    assert rows[0]["comment"]["value"] == COMPOSER["description"]
    # Full IRI and CURIE name the same relation.
    assert onto_client.get("/relations/http://example.org/composer").json()["label"] == "composed by"
    assert onto_client.get("/relations/ex:composer").json()["curie"] == "ex:composer"


def test_register_errors(onto_client):
    assert onto_client.post("/relations", json=COMPOSER).status_code == 201
    r = onto_client.post("/relations", json=COMPOSER)
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    r = onto_client.post("/relations", json={**COMPOSER, "id": "nope:thing"})
    assert r.status_code == 422 and "unknown prefix 'nope'" in r.json()["detail"]
    r = onto_client.post("/relations", json={"id": "ex:x", "label": ""})
    assert r.status_code == 422 and "label" in r.json()["detail"]
    r = onto_client.post("/relations", content=b'{"id": "ex:x", "label": ',
                         headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]


def test_unknown_relation_is_404(onto_client):
    for r in (onto_client.get("/relations/ex:nothing"), onto_client.delete("/relations/ex:nothing"),
              onto_client.get("/relations/ex:nothing/examples"),
              onto_client.post("/relations/ex:nothing/examples", json=span("A met B.", "A", "B"))):
        assert r.status_code == 404, r.text
        assert "ex:nothing" in r.json()["detail"] or "nothing" in r.json()["detail"]


def test_examples_in_both_forms_persist_across_restart(settings, model):
    iri = "http://example.org/composer"  # a fresh store knows no ex: prefix, so full IRIs here
    with make_client(settings, model) as c:
        assert c.post("/relations", json={**COMPOSER, "id": iri}).status_code == 201
        one = span("The opera Carmen was composed by Georges Bizet.", "Carmen", "Georges Bizet")
        fewrel = {"tokens": ["Swan", "Lake", "has", "music", "by", "Pyotr", "Tchaikovsky", "."],
                  "h": ["Swan Lake", "Q12", [[0, 1]]], "t": ["Pyotr Tchaikovsky", "Q7315", [[5, 6]]]}
        r = c.post(f"/relations/{iri}/examples", json=one)
        assert r.status_code == 201 and r.json()["added"] == 1
        r = c.post(f"/relations/{iri}/examples", json=[fewrel])
        assert r.status_code == 201 and r.json()["added"] == 1
    with make_client(settings, model) as c:  # a new app over the same data dir
        examples = c.get(f"/relations/{iri}/examples").json()
        assert [e["head"]["text"] for e in examples] == ["Carmen", "Swan Lake"]
        assert [e["tail"]["text"] for e in examples] == ["Georges Bizet", "Pyotr Tchaikovsky"]
        assert examples[1]["tail"]["entity"] == "http://www.wikidata.org/entity/Q7315"
        assert c.get(f"/relations/{iri}").json()["examples"] == 2


def test_bad_examples_are_refused_whole(onto_client):
    good = span("Mahler wrote the Fifth Symphony.", "Fifth Symphony", "Mahler")
    cases = {
        "outside": {"text": "short", "head": {"start": 0, "end": 2}, "tail": {"start": 3, "end": 40}},
        "overlap": {"text": "Marie Curie", "head": {"start": 0, "end": 5}, "tail": {"start": 3, "end": 11}},
        "empty text": {"text": "", "head": {"start": 0, "end": 1}, "tail": {"start": 1, "end": 2}},
        "empty span": {"text": "A met B", "head": {"start": 2, "end": 2}, "tail": {"start": 6, "end": 7}},
        "both forms": {**good, "tokens": ["a"], "h": [], "t": []},
        "bad tokens": {"tokens": ["A", "met", "B"], "h": ["A", "", [[0]]], "t": ["B", "", [[7]]]},
    }
    for name, bad in cases.items():
        r = onto_client.post("/relations/ex:spouse/examples", json=[good, bad])
        assert r.status_code == 422, (name, r.text)
        assert "item 1" in r.json()["detail"], name
    assert onto_client.get("/relations/ex:spouse/examples").json() == []


def test_delete_relation_removes_definition_and_examples(onto_client):
    onto_client.post("/relations", json=COMPOSER)
    onto_client.post("/relations/ex:composer/examples",
                     json=span("Carmen was composed by Georges Bizet.", "Carmen", "Georges Bizet"))
    assert onto_client.delete("/relations/ex:composer").status_code == 204
    assert onto_client.get("/relations/ex:composer").status_code == 404
    q = "ASK { ?e kgrel:relation ex:composer }"
    assert onto_client.get("/graph/sparql", params={"query": q}).json()["boolean"] is False
