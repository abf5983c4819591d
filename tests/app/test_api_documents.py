"""A document read whole through /extract: entities, not mentions; facts across sentences; every relation
that holds; one fact however often stated, with its supporting passages as provenance."""

from __future__ import annotations

import pytest

from tests.app.test_api_relations import span

GRAPH = """@prefix ex: <http://example.org/people/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:Person rdfs:label "person"@en . ex:City rdfs:label "city"@en . ex:Region rdfs:label "region"@en .
ex:Country rdfs:label "country"@en .
ex:schneider a ex:Person ; rdfs:label "Wilfried Schneider"@en .
ex:medias a ex:City ; rdfs:label "Mediaș"@en .
ex:vella a ex:Person ; rdfs:label "Orsina Vella"@en .
ex:kast a ex:Person ; rdfs:label "Brennor Kast"@en .
ex:mdina a ex:City ; rdfs:label "Mdina"@en .
ex:northern a ex:Region ; rdfs:label "Northern Region"@en .
ex:malta a ex:Country ; rdfs:label "Malta"@en .
"""
RELATIONS = [
    {"id": "ex:birthPlace", "label": "place of birth", "description": "most specific known birth location of a person"},
    {"id": "ex:spouse", "label": "spouse", "description": "the subject has the object as their spouse (husband, wife)"},
    {"id": "ex:country", "label": "country", "description": "sovereign state of this item"},
    {"id": "ex:locatedIn", "label": "located in the administrative territorial entity",
     "description": "the item is located on the territory of the following administrative entity"},
]
EX = "http://example.org/people/"


@pytest.fixture
def people(client):
    r = client.post("/graph/triples", content=GRAPH.encode(), headers={"Content-Type": "text/turtle"})
    assert r.status_code == 200, r.text
    for spec in RELATIONS:
        assert client.post("/relations", json=spec).status_code == 201
    return client


def facts_by_key(response) -> dict:
    return {(f["head"].removeprefix(EX), f["curie"], f["tail"].removeprefix(EX)): f for f in response.json()["facts"]}


def test_a_surname_two_sentences_later_is_the_same_entity_and_its_passage_goes_back_to_the_full_name(people):
    text = "Wilfried Schneider is a German skeleton racer. Schneider was born in Mediaș in 1963."
    r = people.post("/extract", json={"text": text, "threshold": 0.0, "candidates": ["ex:birthPlace"]})
    assert r.status_code == 200, r.text
    facts = facts_by_key(r)
    pairs = {frozenset((h, t)) for h, _, t in facts}
    assert pairs == {frozenset(("schneider", "medias"))}  # "Schneider" is no entity of its own
    [fact] = list(facts.values())  # one direction of one relation: one fact
    [passage] = fact["support"]
    # The fact is stated in the second sentence by the surname; its passage reaches back to the full name.
    assert passage["sentence"] == text and passage["sentence_start"] == 0
    spans = {passage["head_span"]["text"], passage["tail_span"]["text"]}
    assert spans == {"Wilfried Schneider", "Mediaș"}
    assert fact["sentence"] == passage["sentence"]


def test_the_same_fact_stated_twice_is_one_fact_with_two_passages(people):
    text = "Orsina Vella married Brennor Kast in 2004. Kast and Vella live in Mdina."
    r = people.post("/extract", json={"text": text, "threshold": 0.0, "candidates": ["ex:spouse"]})
    facts = facts_by_key(r)
    spouses = [f for (h, _, t), f in facts.items() if {h, t} == {"vella", "kast"}]
    assert len(spouses) == 1
    assert [p["sentence"] for p in spouses[0]["support"]] == ["Orsina Vella married Brennor Kast in 2004.",
                                                              "Kast and Vella live in Mdina."]
    linked_by = {p["head_span"]["linked_by"] for p in spouses[0]["support"]}
    assert linked_by <= {"name", "reference"}


def test_entities_in_different_sentences_are_paired_within_the_window(people, client):
    text = "Orsina Vella is a painter. She grew up by the sea. Her studio is in Mdina."
    r = people.post("/extract", json={"text": text, "threshold": 0.0, "candidates": ["ex:locatedIn"]})
    facts = facts_by_key(r)
    [fact] = [f for (h, _, t), f in facts.items() if {h, t} == {"vella", "mdina"}]
    [passage] = fact["support"]
    assert passage["sentence"] == text  # the stretch from one mention to the other
    assert text[passage["head_span"]["start"]:passage["head_span"]["end"]] in ("Orsina Vella", "Mdina")


def test_a_pair_returns_every_relation_above_the_threshold_each_in_one_direction(people):
    text = "Mdina is a fortified city in the Northern Region of Malta."
    r = people.post("/extract", json={"text": text, "threshold": 0.0, "candidates": ["ex:country", "ex:locatedIn"]})
    facts = facts_by_key(r)
    region_malta = {(h, rel, t) for h, rel, t in facts if {h, t} == {"northern", "malta"}}
    assert {rel for _, rel, _ in region_malta} == {"ex:country", "ex:locatedIn"}
    assert len(region_malta) == 2  # one direction per relation
    mentions = {(f["head_span"]["start"], f["tail_span"]["start"]) for f in facts.values()}
    assert len(facts) == len({(h, rel, t) for h, rel, t in facts}) and mentions


def test_an_empty_answer_says_why(people):
    r = people.post("/extract", json={"text": "Nobody the graph knows is named here."})
    assert r.json()["facts"] == [] and "no mention of a graph entity" in r.json()["reason"]
    r = people.post("/extract", json={"text": "Mdina is old. " + "Nothing happened. " * 12 + "Malta is an island."})
    assert r.json()["facts"] == [] and "within 10 sentences" in r.json()["reason"]
    r = people.post("/extract", json={"text": "Mdina is a city in Malta.", "threshold": 1.0})
    assert r.json()["facts"] == [] and "threshold" in r.json()["reason"]


def test_a_session_offers_a_pair_once_with_the_other_sentences_and_writes_them_as_provenance(people):
    sid = people.post("/sessions", json={"relation": "ex:spouse", "user": "ann"}).json()["id"]
    text = "Orsina Vella married Brennor Kast in 2004. Brennor Kast and Orsina Vella live in Mdina."
    r = people.post(f"/sessions/{sid}/texts", json={"text": text})
    assert r.json()["added"] == 3  # (Vella, Kast) once, (Kast, Mdina), (Vella, Mdina)
    cards = people.get(f"/sessions/{sid}/suggestions", params={"n": 10}).json()
    [couple] = [c for c in cards if {c["head"]["entity"], c["tail"]["entity"]} == {EX + "vella", EX + "kast"}]
    assert couple["sentence"] == "Orsina Vella married Brennor Kast in 2004."
    [also] = couple["support"]
    assert also["sentence"] == "Brennor Kast and Orsina Vella live in Mdina." and also["offset"] == 43
    assert {also["head"]["text"], also["tail"]["text"]} == {"Brennor Kast", "Orsina Vella"}
    # Turned round, the support turns with it.
    turned = people.post(f"/sessions/{sid}/suggestions/{couple['id']}/swap").json()
    assert turned["support"][0]["head"]["entity"] == turned["head"]["entity"]
    r = people.post(f"/sessions/{sid}/suggestions/{couple['id']}", json={"decision": "accept"})
    assert r.status_code == 200 and r.json()["statement"]
    q = (f"SELECT ?text WHERE {{ <{r.json()['statement']}> prov:wasDerivedFrom ?s . ?s kgrel:text ?text }}")
    rows = people.get("/graph/sparql", params={"query": q}).json()["results"]["bindings"]
    assert sorted(row["text"]["value"] for row in rows) == sorted([couple["sentence"], also["sentence"]])


# What a curator meets at the service's own threshold (issue 38's checks). Spouse and place of birth are
# relations the shipped model never trained on (Re-DocRED withholds their facts); country and "located in"
# it trained on.
NEVER_TRAINED = "a relation the shipped model never trained on scores under the threshold (README, 'Known limits')"


def facts_at_service_threshold(client, text: str) -> set[tuple[str, str, str]]:
    r = client.post("/extract", json={"text": text})
    assert r.status_code == 200, r.text
    return set(facts_by_key(r))


def test_a_pair_holding_two_relations_is_returned_with_both(people):
    facts = facts_at_service_threshold(people, "Mdina is a city in Malta.")
    assert {("mdina", "ex:country", "malta"), ("mdina", "ex:locatedIn", "malta")} <= facts


def test_a_date_the_graph_types_is_not_read_as_a_spouse(people):
    """Typed as a date, "14 August 1941" scores as a spouse far under the couple and under itself untyped."""
    text = "Orsina Vella married Brennor Kast on 14 August 1941."

    def spouse_scores():
        r = people.post("/extract", json={"text": text, "threshold": 0.0, "candidates": ["ex:spouse"]})
        return {frozenset((h, t)): f["score"] for (h, _, t), f in facts_by_key(r).items()}

    date = '@prefix ex: <http://example.org/people/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . '
    people.post("/graph/triples", content=(date + 'ex:d1941 rdfs:label "14 August 1941"@en .').encode(),
                headers={"Content-Type": "text/turtle"})
    untyped = spouse_scores()
    people.post("/graph/triples", content=(date + 'ex:Date rdfs:label "date"@en . ex:d1941 a ex:Date .').encode(),
                headers={"Content-Type": "text/turtle"})
    typed = spouse_scores()
    couple = typed[frozenset(("vella", "kast"))]
    for person in ("vella", "kast"):
        pair = frozenset((person, "d1941"))
        assert typed[pair] < couple / 10 and typed[pair] < untyped[pair] / 2, (typed, untyped)
    assert not any("d1941" in (h, t) for h, _, t in facts_at_service_threshold(people, text))


@pytest.mark.xfail(strict=True, reason=NEVER_TRAINED)
def test_x_married_y_is_a_spouse_fact_without_examples(people):
    assert ("kast", "ex:spouse", "vella") in facts_at_service_threshold(people, "Orsina Vella married Brennor Kast.")


FIVE_EXAMPLES = {
    "ex:spouse": [
        span("Pierre Curie married Marie Skłodowska in 1895.", "Pierre Curie", "Marie Skłodowska"),
        span("In 1961 Barack Obama Sr. married Ann Dunham in Hawaii.", "Barack Obama Sr.", "Ann Dunham"),
        span("Johnny Cash was married to June Carter until her death in 2003.", "Johnny Cash", "June Carter"),
        span("Frida Kahlo and her husband Diego Rivera lived in Mexico City.", "Frida Kahlo", "Diego Rivera"),
        span("Queen Victoria's husband, Prince Albert, died in 1861.", "Queen Victoria", "Prince Albert")],
    "ex:birthPlace": [
        span("Marie Curie was born in Warsaw in 1867.", "Marie Curie", "Warsaw"),
        span("Wolfgang Amadeus Mozart was born in Salzburg.", "Wolfgang Amadeus Mozart", "Salzburg"),
        span("Born in Ulm, Albert Einstein later moved to Munich.", "Albert Einstein", "Ulm"),
        span("Frida Kahlo was born in Coyoacán, a village near Mexico City.", "Frida Kahlo", "Coyoacán"),
        span("Pablo Picasso, a native of Málaga, spent most of his life in France.", "Pablo Picasso", "Málaga")],
    "ex:country": [
        span("Kyoto is a city in Japan.", "Kyoto", "Japan"), span("Lyon lies in eastern France.", "Lyon", "France"),
        span("The Danube flows through Vienna, the capital of Austria.", "Vienna", "Austria"),
        span("Porto is Portugal's second city.", "Porto", "Portugal"),
        span("Cusco, Peru, was the capital of the Inca Empire.", "Cusco", "Peru")],
    "ex:locatedIn": [
        span("Kyoto is a city in Kyoto Prefecture.", "Kyoto", "Kyoto Prefecture"),
        span("Lyon is the prefecture of the Rhône department.", "Lyon", "Rhône"),
        span("Salzburg is a city in the state of Salzburg in Austria.", "Salzburg", "Austria"),
        span("Oxford is a city in Oxfordshire, England.", "Oxford", "Oxfordshire"),
        span("Boulder is a city in Boulder County, Colorado.", "Boulder", "Boulder County")],
}


@pytest.mark.parametrize("text, fact", [
    pytest.param("Brennor Kast was born in Mdina.", ("kast", "ex:birthPlace", "mdina"), id="birthPlace"),
    pytest.param("Mdina is a town in the Northern Region.", ("mdina", "ex:locatedIn", "northern"), id="locatedIn"),
    pytest.param("Orsina Vella married Brennor Kast.", ("kast", "ex:spouse", "vella"), id="spouse",
                 marks=pytest.mark.xfail(strict=True, reason=NEVER_TRAINED + "; five examples lift it to 0.40")),
])
def test_with_five_examples_per_relation_a_plain_statement_is_returned(people, text, fact):
    for relation, examples in FIVE_EXAMPLES.items():
        assert people.post(f"/relations/{relation}/examples", json=examples).status_code == 201
    assert fact in facts_at_service_threshold(people, text)
