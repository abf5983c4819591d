"""What a write changes: relations (at once), labels (at once), facts (in the background)."""

import pyoxigraph as ox

from kgrel.kg.changes import FACTS, LABELS, RELATIONS, aspects_changed
from kgrel.kg.ingest import ingest, parse_rdf
from kgrel.kg.ontology import OntologyView
from kgrel.kg.store import EmbeddedStore
from tests.conftest import DATA

EX = "http://example.org/"


def changes_of(store, turtle: str) -> frozenset[str]:
    prefixes = ("@prefix ex: <http://example.org/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . "
                "@prefix owl: <http://www.w3.org/2002/07/owl#> . ")
    quads, _ = parse_rdf((prefixes + turtle).encode(), ox.RdfFormat.TURTLE)
    return aspects_changed(OntologyView(store), quads)


def test_each_kind_of_write(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    ingest(store, (DATA / "ontology.ttl").read_bytes(), ox.RdfFormat.TURTLE)
    assert changes_of(store, "ex:a ex:spouse ex:b .") == {FACTS}
    assert changes_of(store, 'ex:a rdfs:label "A" .') == {FACTS, LABELS}
    assert changes_of(store, 'ex:spouse rdfs:comment "married" .') == {FACTS, RELATIONS}
    assert changes_of(store, "ex:new a owl:ObjectProperty .") >= {RELATIONS}
    assert changes_of(store, "ex:spouse owl:inverseOf ex:spouse .") >= {RELATIONS}
    store.close()


def test_ingest_reports_its_changes(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    report = ingest(store, b"<http://example.org/a> <http://example.org/p> <http://example.org/b> .",
                    ox.RdfFormat.N_TRIPLES)
    assert report.changes == {FACTS}
    again = ingest(store, b"<http://example.org/a> <http://example.org/p> <http://example.org/b> .",
                   ox.RdfFormat.N_TRIPLES)
    assert again.added == 0 and again.changes == frozenset()
    store.close()


def test_which_relations_new_facts_can_move(tmp_path):
    from kgrel.kg.changes import relations_with_new_facts

    store = EmbeddedStore(tmp_path / "store")
    ingest(store, b"<http://example.org/a> a <http://example.org/City> .", ox.RdfFormat.TURTLE)

    def moved(turtle: str):
        quads, _ = parse_rdf(("@prefix ex: <http://example.org/> . @prefix rdfs: <http://www.w3.org/2000/01/"
                              "rdf-schema#> . " + turtle).encode(), ox.RdfFormat.TURTLE)
        return relations_with_new_facts(OntologyView(store), quads)

    assert moved("ex:a ex:spouse ex:b . ex:a ex:author ex:c .") == {EX + "spouse", EX + "author"}
    assert moved("ex:b a ex:Person .") is None  # a new class of an entity: any relation's classes may move
    assert moved('ex:City rdfs:label "city" .') is None  # a class's label is what observed classes show
    assert moved('ex:a rdfs:label "Alpha" .') == {"http://www.w3.org/2000/01/rdf-schema#label"}
    # A labelled example counts as a fact of its relation; one whose relation is not in the same write may be
    # any relation's.
    example = ('GRAPH <urn:kgrel:graph:examples> {{ <urn:kgrel:example:1> a <https://w3id.org/kgrel#Example> ; '
               '<https://w3id.org/kgrel#text> "A taught B." ; {} }}')

    def moved_trig(body: str):
        quads, _ = parse_rdf(example.format(body).encode(), ox.RdfFormat.TRIG)
        return relations_with_new_facts(OntologyView(store), quads)

    kgrel = "https://w3id.org/kgrel#"
    assert moved_trig(f"<{kgrel}relation> <{EX}mentor> ; <{kgrel}head> <{EX}a> ; <{kgrel}tail> <{EX}b>") == \
        {EX + "mentor"}
    assert moved_trig(f"<{kgrel}head> <{EX}a>") is None
    store.close()
