"""What a write changes: relations (at once), labels (at once), facts (in the background)."""

import pyoxigraph as ox

from kgrel.kg.changes import FACTS, LABELS, RELATIONS, aspects_changed
from kgrel.kg.ingest import ingest, parse_rdf
from kgrel.kg.ontology import OntologyView
from kgrel.kg.store import EmbeddedStore
from tests.conftest import DATA


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
