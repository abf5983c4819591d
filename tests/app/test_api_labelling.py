"""Sentence splitting, dictionary linking, /extract, a whole labelling session, provenance and exports."""

from __future__ import annotations

import json

import pyoxigraph as ox
import pytest

from kgrel.models.relation.instances import from_fewrel
from tests.conftest import DATA

MUSIC = """@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
ex:Composer rdfs:label "composer"@en . ex:Work rdfs:label "musical work"@en .
ex:bizet a ex:Composer ; rdfs:label "Georges Bizet"@en .
ex:carmen a ex:Work ; rdfs:label "Carmen"@en .
ex:mozart a ex:Composer ; rdfs:label "Wolfgang Amadeus Mozart"@en ; skos:altLabel "Mozart"@en .
ex:flute a ex:Work ; rdfs:label "The Magic Flute"@en .
ex:tchaikovsky a ex:Composer ; rdfs:label "Pyotr Tchaikovsky"@en ; skos:altLabel "Tchaikovsky"@en .
ex:swanlake a ex:Work ; rdfs:label "Swan Lake"@en .
ex:verdi a ex:Composer ; rdfs:label "Giuseppe Verdi"@en .
ex:aida a ex:Work ; rdfs:label "Aida"@en .
ex:vienna rdfs:label "Vienna"@en .
"""
TEXT = ("The Magic Flute was composed by Wolfgang Amadeus Mozart. Swan Lake is a ballet by Pyotr Tchaikovsky. "
        "Aida was written by Giuseppe Verdi for the opera house in Cairo. Mozart moved to Vienna in 1781.")


@pytest.fixture
def music(onto_client):
    r = onto_client.post("/graph/triples", content=MUSIC.encode(), headers={"Content-Type": "text/turtle"})
    assert r.status_code == 200
    r = onto_client.post("/relations", json={"id": "ex:composer", "label": "composer", "aliases": ["composed by"],
                                             "description": "person who wrote the music of a musical work"})
    assert r.status_code == 201
    return onto_client


def test_extract_finds_pairs_classifies_and_ingests_with_provenance(music):
    r = music.post("/extract", json={"text": TEXT, "threshold": 0.0, "candidates": ["ex:composer", "ex:spouse",
                                                                                  "ex:birthPlace"]})
    assert r.status_code == 200, r.text
    facts = {(f["head"], f["curie"], f["tail"]): f for f in r.json()["facts"]}
    key = ("http://example.org/flute", "ex:composer", "http://example.org/mozart")
    assert key in facts
    # One direction per fact: composer is asymmetric, so the reversed pair is not also returned.
    assert ("http://example.org/mozart", "ex:composer", "http://example.org/flute") not in facts
    assert not {(t, r, h) for h, r, t in facts} & set(facts)
    fact = facts[key]
    assert fact["sentence"] == "The Magic Flute was composed by Wolfgang Amadeus Mozart."
    assert TEXT[fact["head_span"]["start"]:fact["head_span"]["end"]] == "The Magic Flute"
    assert TEXT[fact["tail_span"]["start"]:fact["tail_span"]["end"]] == "Wolfgang Amadeus Mozart"
    # A single-mention sentence gives no pair; every pair is within one sentence.
    assert all(f["sentence"] in TEXT for f in facts.values())
    # The default threshold keeps only confident facts, none-of-the-above pairs are dropped.
    confident = music.post("/extract", json={"text": TEXT}).json()["facts"]
    assert len(confident) < len(facts) and all(f["score"] >= 0.5 for f in confident)
    r = music.post("/extract", params={"ingest": "true"}, json={"text": TEXT, "threshold": 0.0,
                                                                "candidates": ["ex:composer"], "user": "tester"})
    assert r.json()["ingested"] and r.json()["graph"].startswith("urn:kgrel:graph:session:extract-")
    q = ("SELECT ?score ?who WHERE { ?a rdf:subject ex:flute ; rdf:predicate ex:composer ; rdf:object ex:mozart ; "
         "kgrel:score ?score ; prov:wasAttributedTo ?who }")
    rows = music.get("/graph/sparql", params={"query": q}).json()["results"]["bindings"]
    assert rows and rows[0]["who"]["value"] == "urn:kgrel:agent:tester"
    assert music.post("/extract", json={"text": ""}).status_code == 422
    assert music.post("/extract", json={"text": "x", "documents": ["y"]}).status_code == 422


def test_a_whole_labelling_session(music):
    r = music.post("/sessions", json={"relation": "ex:composer", "user": "alice"})
    assert r.status_code == 201, r.text
    session = r.json()
    sid = session["id"]
    assert session["graph"] == f"urn:kgrel:graph:session:{sid}" and session["counts"]["pending"] == 0
    r = music.post(f"/sessions/{sid}/texts", json={"text": TEXT})
    # Four pairs of linked mentions (Vienna-Mozart included), each queued once, not once per direction.
    assert r.status_code == 200 and r.json() == {"documents": 1, "sentences": 4, "added": 4, "pending": 4,
                                                 "ambiguous": [], "guessed": []}
    again = music.post(f"/sessions/{sid}/texts", json={"documents": [TEXT]}).json()
    assert again["added"] == 0  # the same pairs are not queued twice
    suggestions = music.get(f"/sessions/{sid}/suggestions", params={"n": 20}).json()
    assert len(suggestions) == 4 and all(0 <= s["score"] <= 1 for s in suggestions)
    # Each pair is offered in the direction the model reads the relation in.
    by_pair = {(s["head"]["entity"], s["tail"]["entity"]): s for s in suggestions}
    flute = by_pair[("http://example.org/flute", "http://example.org/mozart")]
    swan = by_pair[("http://example.org/swanlake", "http://example.org/tchaikovsky")]
    [wrong] = [s for s in suggestions if "http://example.org/vienna" in (s["head"]["entity"], s["tail"]["entity"])]
    # Accept: an example at once, and the fact with provenance in the session's graph, with the model's
    # own score (the client's 0.01 is not trusted).
    r = music.post(f"/sessions/{sid}/suggestions/{flute['id']}", json={"decision": "accept", "score": 0.01})
    assert r.status_code == 200 and r.json()["status"] == "accepted" and r.json()["example"]
    assert music.get("/relations/ex:composer").json()["examples"] == 1
    r = music.post(f"/sessions/{sid}/suggestions/{wrong['id']}", json={"decision": "reject"})
    assert r.json()["status"] == "rejected" and r.json()["example"] is None
    r = music.post(f"/sessions/{sid}/suggestions/{swan['id']}",
                   json={"decision": "correct", "relation": "ex:composer", "user": "bob"})
    assert r.json()["status"] == "corrected" and r.json()["relation"] == "http://example.org/composer"
    assert music.post(f"/sessions/{sid}/suggestions/{swan['id']}", json={"decision": "accept"}).status_code == 409
    # The same decision again (a retried request) is answered as before and stores nothing new.
    again = music.post(f"/sessions/{sid}/suggestions/{swan['id']}",
                       json={"decision": "correct", "relation": "ex:composer", "user": "bob"})
    assert again.status_code == 200 and again.json() == r.json()
    assert music.get("/relations/ex:composer").json()["examples"] == 2
    # The next suggestions already use the new examples and leave out what was decided.
    left = music.get(f"/sessions/{sid}/suggestions", params={"n": 20}).json()
    assert {s["id"] for s in left}.isdisjoint({flute["id"], swan["id"], wrong["id"]})
    counts = music.get(f"/sessions/{sid}").json()["counts"]
    assert counts["accepted"] == 1 and counts["rejected"] == 1 and counts["corrected"] == 1
    # Provenance, readable with SPARQL: sentence, offsets, score, who and when.
    q = f"""SELECT ?text ?hs ?he ?score ?who ?when WHERE {{ GRAPH <urn:kgrel:graph:session:{sid}> {{
        ex:flute ex:composer ex:mozart .
        ?a rdf:subject ex:flute ; rdf:predicate ex:composer ; rdf:object ex:mozart ;
           prov:wasDerivedFrom ?s ; kgrel:headStart ?hs ; kgrel:headEnd ?he ; kgrel:score ?score ;
           prov:wasAttributedTo ?who ; prov:generatedAtTime ?when ; prov:wasGeneratedBy <urn:kgrel:session:{sid}> .
        ?s kgrel:text ?text }} }}"""
    [row] = music.get("/graph/sparql", params={"query": q}).json()["results"]["bindings"]
    text = row["text"]["value"]
    assert text[int(row["hs"]["value"]):int(row["he"]["value"])] == "The Magic Flute"
    assert row["who"]["value"] == "urn:kgrel:agent:alice" and float(row["score"]["value"]) == flute["score"]
    ask = f"ASK {{ GRAPH <urn:kgrel:graph:session:{sid}> {{ ?a rdf:subject ex:swanlake ; prov:wasAttributedTo ?w }} }}"
    assert music.get("/graph/sparql", params={"query": ask}).json()["boolean"] is True
    # Quality: leave-one-out accuracy and the learning curve.
    quality = music.get("/relations/ex:composer/quality").json()
    assert quality["examples"] == 2 and [p["examples"] for p in quality["curve"]] == [1, 2]
    assert 0 <= quality["leave_one_out_accuracy"] <= 1
    misread = round((1 - quality["leave_one_out_accuracy"]) * quality["examples"])
    assert sum(c["examples"] for c in quality["confused_with"]) == misread
    assert all(c["relation"] != "http://example.org/composer" for c in quality["confused_with"])
    # Exports: the session's facts as Turtle and N-Quads, the examples as FewRel JSON.
    ttl = music.get(f"/sessions/{sid}/facts", params={"format": "turtle"})
    assert ttl.headers["content-type"].startswith("text/turtle")
    triples = {(str(q.subject), str(q.predicate), str(q.object))
               for q in ox.parse(ttl.content, format=ox.RdfFormat.TURTLE)}
    assert ("<http://example.org/flute>", "<http://example.org/composer>", "<http://example.org/mozart>") in triples
    nq = music.get(f"/sessions/{sid}/facts", headers={"Accept": "application/n-quads"})
    quads = list(ox.parse(nq.content, format=ox.RdfFormat.N_QUADS))
    assert len(quads) == len(triples) and all(str(q.graph_name) == f"<urn:kgrel:graph:session:{sid}>" for q in quads)
    assert music.get(f"/sessions/{sid}/facts", headers={"Accept": "image/png"}).status_code == 406
    fewrel = music.get("/relations/ex:composer/examples", params={"format": "fewrel"}).json()
    items = fewrel["ex:composer"]
    round_trip = [from_fewrel(item) for item in items]
    assert sorted((x.head_text, x.tail_text) for x in round_trip) == [
        ("Swan Lake", "Pyotr Tchaikovsky"), ("The Magic Flute", "Wolfgang Amadeus Mozart")]
    assert json.loads(json.dumps(fewrel)) == fewrel


def test_session_errors(music):
    assert music.post("/sessions", json={"relation": "ex:nothing"}).status_code == 404
    assert music.get("/sessions/doesnotexist").status_code == 404
    assert music.get("/sessions/../etc").status_code == 404
    sid = music.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
    assert music.post(f"/sessions/{sid}/suggestions/nope", json={"decision": "accept"}).status_code == 404
    r = music.post(f"/sessions/{sid}/texts", json={"text": "abc", "mentions": [[{"start": 0, "end": 9}]]})
    assert r.status_code == 422 and "not inside" in r.json()["detail"]
    assert music.get(f"/sessions/{sid}/suggestions").json() == []
    r = music.post(f"/sessions/{sid}/texts", json={"text": TEXT})
    cid = music.get(f"/sessions/{sid}/suggestions", params={"n": 1}).json()[0]["id"]
    r = music.post(f"/sessions/{sid}/suggestions/{cid}", json={"decision": "maybe"})
    assert r.status_code == 422


def test_entities_found_by_name_with_typos(music):
    found = music.get("/graph/entities", params={"q": "Mozzart"}).json()  # a typo of the alias Mozart
    assert found[0]["curie"] == "ex:mozart" and found[0]["label"] == "Wolfgang Amadeus Mozart"
    assert 0 < found[0]["score"] < 1
    exact = music.get("/graph/entities", params={"q": "SWAN lake"}).json()[0]
    assert exact["curie"] == "ex:swanlake" and exact["score"] == 1.0
    part = [e["curie"] for e in music.get("/graph/entities", params={"q": "flute"}).json()]
    assert part[0] == "ex:flute"
    assert music.get("/graph/entities", params={"q": "zzzzqqq"}).json() == []
    both = music.get("/graph/entities", params={"q": "tchaikovsky"}).json()  # an alias and part of the label
    assert [e["curie"] for e in both].count("ex:tchaikovsky") == 1 and both[0]["score"] == 1.0
    assert music.get("/graph/entities", params={"q": ""}).status_code == 422


def test_an_entity_minted_for_an_unknown_name_is_linked_at_once(music):
    r = music.post("/graph/entities", json={"label": "Wolfie", "type": "ex:Composer"})
    assert r.status_code == 201 and r.json()["label"] == "Wolfie"
    iri = r.json()["id"]
    assert music.get("/graph/entities", params={"q": "wolfie"}).json()[0]["id"] == iri  # found by name at once
    entity = music.get(f"/graph/entities/<{iri}>").json()
    assert entity["labels"] == ["Wolfie"] and entity["classes"] == ["http://example.org/Composer"]
    again = music.post("/graph/entities", json={"label": "Wolfie", "type": "ex:Composer"})
    assert again.status_code == 409 and "already names an entity" in again.json()["detail"]
    assert music.post("/graph/entities", json={"label": "x", "id": "ex:mozart"}).status_code == 409
    assert music.post("/graph/entities", json={"label": ""}).status_code == 422
    # A pasted sentence naming it now gives suggestions with it.
    sid = music.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
    r = music.post(f"/sessions/{sid}/texts", json={"text": "Wolfie wrote The Magic Flute."})
    assert r.json()["added"] == 1


def test_entity_browsing(music):
    r = music.get("/graph/entities/ex:mozart")
    assert r.status_code == 200
    body = r.json()
    assert body["labels"][0] == "Wolfgang Amadeus Mozart" and "composer" in body["hypernyms"]
    assert music.get("/graph/entities/ex:nobody").status_code == 404
    # Mozart's facts: the same fact in two graphs once, kgrel's provenance nodes left out, paged with totals.
    works = "".join(f"ex:work{i} ex:composer ex:mozart .\n" for i in range(7))
    for graph in ("urn:a", "urn:b"):
        music.post("/graph/triples", params={"graph": graph}, headers={"Content-Type": "text/turtle"},
                   content=("@prefix ex: <http://example.org/> .\n" + works).encode())
    music.post("/graph/triples", headers={"Content-Type": "application/n-triples"},
               content=b"<urn:kgrel:assertion:x> <http://www.w3.org/1999/02/22-rdf-syntax-ns#object> "
                       b"<http://example.org/mozart> .")
    first = music.get("/graph/entities/ex:mozart", params={"limit": 4}).json()
    rest = music.get("/graph/entities/ex:mozart", params={"limit": 4, "offset": 4}).json()
    assert first["incoming_total"] == 7 and len(first["incoming"]) == 4 and len(rest["incoming"]) == 3
    seen = [e["entity"]["curie"] for page in (first, rest) for e in page["incoming"]]
    assert sorted(seen) == [f"ex:work{i}" for i in range(7)]
    assert (DATA / "ontology.ttl").exists()


def test_a_suggestion_turned_round_by_the_user_stays_so(music):
    sid = music.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
    music.post(f"/sessions/{sid}/texts", json={"text": TEXT})
    first = music.get(f"/sessions/{sid}/suggestions", params={"n": 20}).json()[0]
    r = music.post(f"/sessions/{sid}/suggestions/{first['id']}/swap")
    assert r.status_code == 200
    assert (r.json()["head"], r.json()["tail"]) == (first["tail"], first["head"])
    again = {s["id"]: s for s in music.get(f"/sessions/{sid}/suggestions", params={"n": 20}).json()}[first["id"]]
    assert (again["head"], again["tail"]) == (first["tail"], first["head"])  # the model does not turn it back
    assert music.post(f"/sessions/{sid}/suggestions/{first['id']}", json={"decision": "reject"}).status_code == 200
    r = music.post(f"/sessions/{sid}/suggestions/{first['id']}/swap")
    assert r.status_code == 409 and "pending" in r.json()["detail"]


def test_a_pair_turned_round_is_not_encoded_again(music):
    # Suggestions encode each pair both ways; turning one round (the user here, the model likewise) must
    # find both of its readings kept, not encode the pair anew under its new direction.
    views = music.app.state.service.predictions.views
    sid = music.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
    music.post(f"/sessions/{sid}/texts", json={"text": TEXT})
    first = music.get(f"/sessions/{sid}/suggestions", params={"n": 20}).json()
    kept = len(views._views)
    assert music.post(f"/sessions/{sid}/suggestions/{first[0]['id']}/swap").status_code == 200
    again = music.get(f"/sessions/{sid}/suggestions", params={"n": 20}).json()
    assert len(views._views) == kept
    turned = {s["id"]: s for s in again}[first[0]["id"]]
    assert (turned["head"], turned["tail"]) == (first[0]["tail"], first[0]["head"])
    assert {s["id"] for s in again} == {s["id"] for s in first}


def test_a_decision_undone_leaves_the_graph_and_can_be_made_anew(music):
    sid = music.post("/sessions", json={"relation": "ex:composer", "user": "alice"}).json()["id"]
    music.post(f"/sessions/{sid}/texts", json={"text": TEXT})
    suggestions = music.get(f"/sessions/{sid}/suggestions", params={"n": 20}).json()
    flute = next(s for s in suggestions if {s["head"]["entity"], s["tail"]["entity"]} ==
                 {"http://example.org/flute", "http://example.org/mozart"})
    url = f"/sessions/{sid}/suggestions/{flute['id']}"
    assert music.post(url + "/undo").status_code == 409  # nothing to undo yet
    fact = "ASK { GRAPH ?g { ?h ex:composer ?t } FILTER(?h IN (ex:flute, ex:mozart)) }"
    decided = f"ASK {{ GRAPH <urn:kgrel:graph:session:{sid}> {{ ?d a kgrel:Decision }} }}"

    def ask(q):
        return music.get("/graph/sparql", params={"query": q}).json()["boolean"]

    assert music.post(url, json={"decision": "accept"}).json()["status"] == "accepted"
    assert music.get("/relations/ex:composer").json()["examples"] == 1 and ask(fact) and ask(decided)
    r = music.post(url + "/undo", json={"user": "bob"})
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["example"] is None
    assert music.get("/relations/ex:composer").json()["examples"] == 0 and not ask(fact) and not ask(decided)
    revision = (f"ASK {{ GRAPH <urn:kgrel:graph:session:{sid}> {{ ?r a kgrel:Revision ; kgrel:undid \"accepted\" ; "
                f"prov:wasAttributedTo <urn:kgrel:agent:bob> }} }}")
    assert ask(revision)
    # Revised: rejected this time; the session and the graph agree after a fresh read.
    assert music.post(url, json={"decision": "reject"}).json()["status"] == "rejected"
    assert music.get("/relations/ex:composer").json()["examples"] == 0 and not ask(fact) and ask(decided)


def test_two_annotators_on_one_text_give_an_agreement_figure(music):
    assert music.get("/relations/ex:composer/quality").json()["agreement"] is None
    for user, choices in (("alice", ["accept", "reject", "reject", "reject"]),
                          ("bob", ["reject", "reject", "reject", "reject"])):
        sid = music.post("/sessions", json={"relation": "ex:composer", "user": user}).json()["id"]
        music.post(f"/sessions/{sid}/texts", json={"text": TEXT})
        suggestions = music.get(f"/sessions/{sid}/suggestions", params={"n": 20}).json()
        by_pair = {tuple(sorted((s["head"]["start"], s["tail"]["start"]))): s for s in suggestions}
        for pair, choice in zip(sorted(by_pair), choices, strict=True):
            music.post(f"/sessions/{sid}/suggestions/{by_pair[pair]['id']}", json={"decision": choice})
    agreement = music.get("/relations/ex:composer/quality").json()["agreement"]
    assert agreement["annotators"] == ["alice", "bob"] and agreement["items"] == 4
    # Alike on 3 of 4, but bob always says none and alice 3 times in 4: chance alone gives
    # (3 * 4) / 16 = 0.75, so kappa is 0 (no agreement beyond chance).
    assert agreement["observed"] == 0.75 and agreement["kappa"] == 0.0


def test_suggestions_come_with_the_likeliest_other_relations(music):
    sid = music.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
    music.post(f"/sessions/{sid}/texts", json={"text": TEXT})
    for s in music.get(f"/sessions/{sid}/suggestions").json():
        others = s["alternatives"]
        assert len(others) == 3 and "ex:composer" not in [a["curie"] for a in others]
        assert [a["score"] for a in others] == sorted((a["score"] for a in others), reverse=True)
        assert all(a["label"] and 0 <= a["score"] <= 1 for a in others)


def test_candidates_listed_by_status(music):
    sid = music.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
    music.post(f"/sessions/{sid}/texts", json={"text": TEXT})
    first = music.get(f"/sessions/{sid}/suggestions").json()[0]
    music.post(f"/sessions/{sid}/suggestions/{first['id']}", json={"decision": "reject"})
    every = music.get(f"/sessions/{sid}/candidates").json()
    assert len(every) == 4 and sorted(c["status"] for c in every) == ["pending"] * 3 + ["rejected"]
    [rejected] = music.get(f"/sessions/{sid}/candidates", params={"status": "rejected"}).json()
    assert rejected["id"] == first["id"]
    assert music.get(f"/sessions/{sid}/candidates", params={"status": "maybe"}).status_code == 422


def test_an_ambiguous_name_is_left_unlinked_and_said(music):
    # Two entities called "Aida": the name no longer links to the first of them.
    music.post("/graph/triples", headers={"Content-Type": "text/turtle"},
               content=b'@prefix ex: <http://example.org/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n'
                       b'ex:aida_singer rdfs:label "Aida"@en .')
    sid = music.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
    r = music.post(f"/sessions/{sid}/texts", json={"text": "Aida was written by Giuseppe Verdi."}).json()
    assert r["ambiguous"] == [{"text": "Aida", "entities": 2}]
    # No card for a pair whose one name names no entity: accepting it could write no fact (mark it by hand).
    assert r["added"] == 0 and music.get(f"/sessions/{sid}/suggestions").json() == []
    found = music.post("/extract", json={"text": "Aida was written by Giuseppe Verdi."}).json()
    assert found["facts"] == []  # no fact about an entity the text does not single out
    assert found["reason"].startswith("no two entities are mentioned")


def test_a_misspelt_name_is_linked_by_spelling_and_flagged(music):
    sid = music.post("/sessions", json={"relation": "ex:composer"}).json()["id"]
    r = music.post(f"/sessions/{sid}/texts", json={"text": "Swan Lake is a ballet by Tchaikowsky."}).json()
    assert r["added"] == 1 and r["ambiguous"] == []
    [guess] = r["guessed"]
    assert (guess["text"], guess["entity"], guess["how"]) == ("Tchaikowsky", "http://example.org/tchaikovsky",
                                                               "spelling")
    assert 0.88 <= guess["score"] < 1
    [suggestion] = music.get(f"/sessions/{sid}/suggestions").json()
    mentions = {m["text"]: m for m in (suggestion["head"], suggestion["tail"])}
    guessed = mentions["Tchaikowsky"]
    assert guessed["linked_by"] == "spelling" and guessed["link_score"] == guess["score"]
    assert mentions["Swan Lake"]["linked_by"] == "name" and mentions["Swan Lake"]["link_score"] is None
    facts = music.post("/extract", json={"text": "Swan Lake is a ballet by Tchaikowsky.", "threshold": 0.0}).json()
    spans = [(f["head_span"], f["tail_span"]) for f in facts["facts"]]
    assert spans and all({s["text"]: s["linked_by"] for s in pair} == {"Swan Lake": "name", "Tchaikowsky": "spelling"}
                         for pair in spans)
