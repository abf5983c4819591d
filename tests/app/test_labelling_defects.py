"""What a new curator met on the labelling page, over the API: each defect of the report, fixed."""

from __future__ import annotations

from tests.app.test_api_labelling import music  # noqa: F401 - the fixture


def test_an_unknown_prefix_says_which_are_known_and_how_to_declare_one(client):
    r = client.post("/relations", json={"id": "ex:placeOfBirth", "label": "place of birth"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "unknown prefix 'ex'" in detail and "known prefixes: " in detail and "wdt" in detail
    assert "full IRI" in detail and "@prefix ex:" in detail
    # What the form's placeholder suggests works as it says: a full IRI.
    r = client.post("/relations", json={"id": "http://example.org/placeOfBirth", "label": "place of birth"})
    assert r.status_code == 201


def test_a_name_left_unlinked_gets_no_card_and_is_reported(music):  # noqa: F811
    music.post("/graph/triples", headers={"Content-Type": "text/turtle"},
               content=b'@prefix ex: <http://example.org/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n'
                       b'ex:vienna2 rdfs:label "Vienna"@en . ex:salzburg rdfs:label "Salzburg"@en .')
    sid = music.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
    r = music.post(f"/sessions/{sid}/texts", json={"text": "Mozart grew up in Salzburg before moving to Vienna."})
    body = r.json()
    assert body["ambiguous"] == [{"text": "Vienna", "entities": 2}]
    cards = music.get(f"/sessions/{sid}/suggestions").json()
    assert body["added"] == len(cards) == 1  # Mozart and Salzburg; nothing with Vienna
    assert all(m["entity"] for c in cards for m in (c["head"], c["tail"]))


def test_entity_search_offers_no_far_name(music):  # noqa: F811
    music.post("/graph/triples", headers={"Content-Type": "text/turtle"},
               content=b'@prefix ex: <http://example.org/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n'
                       b'ex:comedian rdfs:label "comedian"@en .')
    assert music.get("/graph/entities", params={"q": "Mediaș"}).json() == []  # not "comedian"
    assert music.get("/graph/entities", params={"q": "Mozrat"}).json()[0]["curie"] == "ex:mozart"  # a typo still


def test_the_page_has_an_icon(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in r.content
