"""The RDF store: every format, atomic ingest, SPARQL, the ontology view, both backends."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from kgrel.kg.errors import InvalidIdentifier, RDFSyntaxError, SparqlError, StoreUnavailable
from kgrel.kg.examples import ExampleRecord, add_examples, count_examples, list_examples
from kgrel.kg.formats import format_for_media_type, format_for_path
from kgrel.kg.ingest import ingest
from kgrel.kg.ontology import OntologyView
from kgrel.kg.prefixes import PrefixMap
from kgrel.kg.relations import RelationExists, RelationSpec, delete_relation, register_relation
from kgrel.kg.sparql import NotAcceptable, run_query
from kgrel.kg.store import EmbeddedStore, open_store
from tests.conftest import DATA

EX = "http://example.org/"

# The same two triples in every supported format.
DOCS = {
    "text/turtle": b'@prefix ex: <http://example.org/> .\nex:a ex:knows ex:b .\nex:a ex:name "A" .\n',
    "application/n-triples": b'<http://example.org/a> <http://example.org/knows> <http://example.org/b> .\n'
                             b'<http://example.org/a> <http://example.org/name> "A" .\n',
    "application/n-quads": b'<http://example.org/a> <http://example.org/knows> <http://example.org/b> '
                           b'<http://example.org/g> .\n'
                           b'<http://example.org/a> <http://example.org/name> "A" <http://example.org/g> .\n',
    "application/trig": b'@prefix ex: <http://example.org/> .\nex:g { ex:a ex:knows ex:b . ex:a ex:name "A" . }\n',
    "application/ld+json": b'{"@context": {"ex": "http://example.org/"}, "@id": "ex:a", '
                           b'"ex:knows": {"@id": "ex:b"}, "ex:name": "A"}',
    "application/rdf+xml": b'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
                           b'xmlns:ex="http://example.org/">\n<rdf:Description rdf:about="http://example.org/a">\n'
                           b'<ex:knows rdf:resource="http://example.org/b"/>\n<ex:name>A</ex:name>\n'
                           b'</rdf:Description>\n</rdf:RDF>\n',
}


@pytest.fixture
def store(tmp_path):
    s = EmbeddedStore(tmp_path / "store")
    yield s
    s.close()


@pytest.mark.parametrize("media", sorted(DOCS))
def test_every_format_ingests_the_same_two_triples(store, media):
    report = ingest(store, DOCS[media], format_for_media_type(media))
    assert (report.parsed, report.added) == (2, 2)
    assert store.ask(f'ASK {{ <{EX}a> <{EX}knows> <{EX}b> ; <{EX}name> "A" }}')
    # Re-ingesting adds nothing: the count is of new triples.
    assert ingest(store, DOCS[media], format_for_media_type(media)).added == 0


def test_failed_ingest_inserts_nothing_and_names_the_line(store):
    ingest(store, DOCS["text/turtle"], ox.RdfFormat.TURTLE)
    before = store.count()
    bad = b'@prefix ex: <http://example.org/> .\nex:c ex:knows ex:d .\nex:e ex:knows ex:f .\nex:g ex:name "unclosed .\n'
    with pytest.raises(RDFSyntaxError) as err:
        ingest(store, bad, ox.RdfFormat.TURTLE)
    assert err.value.line == 4
    assert "line 4" in str(err.value)
    assert store.count() == before
    assert not store.ask(f"ASK {{ <{EX}c> ?p ?o }}")


def test_target_graph_and_prefixes(store):
    report = ingest(store, DOCS["text/turtle"], ox.RdfFormat.TURTLE, graph=EX + "g1")
    assert report.prefixes == {"ex": EX}
    assert store.ask(f"ASK {{ GRAPH <{EX}g1> {{ <{EX}a> <{EX}knows> <{EX}b> }} }}")


def test_store_persists_across_reopen(tmp_path):
    s = EmbeddedStore(tmp_path / "s")
    ingest(s, DOCS["text/turtle"], ox.RdfFormat.TURTLE)
    s.close()
    again = EmbeddedStore(tmp_path / "s")
    assert again.count() == 2
    again.close()


def test_a_held_store_cannot_be_opened_twice(store):
    with pytest.raises(StoreUnavailable, match="Another kgrel process"):
        EmbeddedStore(store.path)


def test_sparql_formats_and_update_refused(store):
    ingest(store, DOCS["text/turtle"], ox.RdfFormat.TURTLE)
    q = f"SELECT ?o WHERE {{ <{EX}a> <{EX}knows> ?o }}"
    json_result = run_query(store, q, "application/sparql-results+json")
    assert json_result.media_type == "application/sparql-results+json"
    assert b'"value":"http://example.org/b"' in json_result.body
    csv = run_query(store, q, "text/csv")
    assert csv.body.decode().splitlines() == ["o", "http://example.org/b"]
    ttl = run_query(store, "CONSTRUCT WHERE { ?s <http://example.org/knows> ?o }", "text/turtle",
                    prefixes={"ex": EX})
    assert ttl.media_type == "text/turtle" and b"ex:a ex:knows ex:b" in ttl.body
    assert run_query(store, "ASK { ?s ?p ?o }", None).body == b'{"head":{},"boolean":true}'
    with pytest.raises(NotAcceptable):
        run_query(store, q, "text/turtle")
    with pytest.raises(SparqlError, match="update operations are not accepted"):
        run_query(store, "INSERT DATA { <http://x/a> <http://x/b> <http://x/c> }", None)
    with pytest.raises(SparqlError, match="syntax"):
        run_query(store, "SELECT ?x WHERE {", None)
    assert store.count() == 2


def test_ontology_view_reads_side_information_and_hypernyms(store):
    ingest(store, (DATA / "ontology.ttl").read_bytes(), ox.RdfFormat.TURTLE)
    view = OntologyView(store)
    relations = {r.iri: r for r in view.relations()}
    assert set(relations) == {EX + n for n in ("spouse", "birthPlace", "author", "employer", "capital", "team")}
    spouse = relations[EX + "spouse"]
    assert spouse.label == "spouse"
    assert set(spouse.aliases) == {"husband", "wife", "married to"}
    assert spouse.description == "the person the subject is married to"
    assert spouse.domain == ["person"] and spouse.range == ["person"]
    marie = view.entity(EX + "marie")
    assert set(marie.labels) == {"Marie Curie", "Maria Skłodowska"}
    assert marie.classes == [EX + "Person"]
    assert set(marie.hypernyms) == {"person", "agent"}


def test_relations_whose_facts_are_mostly_stated_both_ways_are_reciprocated(store):
    turtle = ("@prefix ex: <http://example.org/> . "
              # sibling: 4 of 5 facts have their reverse stated too.
              "ex:a ex:sibling ex:b . ex:b ex:sibling ex:a . ex:c ex:sibling ex:d . ex:d ex:sibling ex:c . "
              "ex:e ex:sibling ex:f . "
              # influencedBy: 4 of 10, under half.
              "ex:a ex:influencedBy ex:b . ex:b ex:influencedBy ex:a . ex:c ex:influencedBy ex:d . "
              "ex:d ex:influencedBy ex:c . " + " ".join(f"ex:x{i} ex:influencedBy ex:y{i} ." for i in range(6)) +
              # knows: one pair both ways is too little to tell; a fact about itself is no reverse.
              " ex:a ex:knows ex:b . ex:b ex:knows ex:a . ex:a ex:likes ex:a . ex:b ex:likes ex:b . "
              "ex:c ex:likes ex:c . ex:d ex:likes ex:d .")
    ingest(store, turtle.encode(), ox.RdfFormat.TURTLE)
    view = OntologyView(store)
    relations = [EX + n for n in ("sibling", "influencedBy", "knows", "likes", "unused")]
    assert view.reciprocated(relations) == {EX + "sibling"}


def test_register_relation_examples_and_delete(store):
    register_relation(store, RelationSpec(EX + "composer", "composed by", ["composer"], "who wrote the music"))
    with pytest.raises(RelationExists):
        register_relation(store, RelationSpec(EX + "composer", "again"))
    add_examples(store, [ExampleRecord(EX + "composer", "Mahler wrote the Fifth Symphony.", 0, 6, 19, 31)])
    assert count_examples(store) == {EX + "composer": 1}
    [rec] = list_examples(store, EX + "composer")
    assert rec.text[rec.head_start:rec.head_end] == "Mahler"
    # Facts that use the relation survive its deletion; its definition and examples do not.
    store.insert([ox.Quad(ox.NamedNode(EX + "s5"), ox.NamedNode(EX + "composer"), ox.NamedNode(EX + "mahler"))])
    delete_relation(store, EX + "composer")
    assert OntologyView(store).relation(EX + "composer") is None
    assert count_examples(store) == {}
    assert store.ask(f"ASK {{ <{EX}s5> <{EX}composer> <{EX}mahler> }}")


def test_prefix_map_expands_and_compacts(tmp_path):
    prefixes = PrefixMap(tmp_path / "prefixes.json")
    assert prefixes.expand("wdt:P26") == "http://www.wikidata.org/prop/direct/P26"
    assert prefixes.expand("<http://x.org/a>") == "http://x.org/a"
    assert prefixes.expand("urn:isbn:123") == "urn:isbn:123"
    with pytest.raises(InvalidIdentifier, match="unknown prefix 'nope'"):
        prefixes.expand("nope:x")
    prefixes.add({"ex": EX})
    assert PrefixMap(tmp_path / "prefixes.json").expand("ex:a") == EX + "a"  # persisted
    assert prefixes.compact(EX + "a") == "ex:a"


def test_formats_from_file_names(tmp_path):
    assert format_for_path(tmp_path / "x.ttl.gz") == ox.RdfFormat.TURTLE
    assert format_for_path(tmp_path / "x.nq") == ox.RdfFormat.N_QUADS
    with pytest.raises(Exception, match="cannot tell"):
        format_for_path(tmp_path / "x.csv")


@pytest.fixture(params=["oxigraph", "virtuoso"])
def remote_store(request):
    """Each real SPARQL server kgrel supports, started by the test, opened as kgrel's store."""
    if request.param == "oxigraph":
        yield open_store(request.getfixturevalue("oxigraph_server") + "/query")
    else:
        yield open_store(request.getfixturevalue("virtuoso_server"), engine="virtuoso")


def test_remote_sparql_endpoint_backend(remote_store):
    """The same operations against a real SPARQL 1.1 server started by the test."""
    store = remote_store
    try:
        assert store.description.startswith("sparql:")
        assert ingest(store, DOCS["application/trig"], ox.RdfFormat.TRIG).added == 2
        assert ingest(store, DOCS["application/trig"], ox.RdfFormat.TRIG).added == 0
        before = store.count()
        with pytest.raises(RDFSyntaxError):
            ingest(store, b"<http://x/a> <http://x/b> .", ox.RdfFormat.N_TRIPLES)
        assert store.count() == before
        ingest(store, (DATA / "ontology.ttl").read_bytes(), ox.RdfFormat.TURTLE)
        assert {r.label for r in OntologyView(store).relations()} >= {"spouse", "author"}
        register_relation(store, RelationSpec(EX + "composer", "composed by"))
        add_examples(store, [ExampleRecord(EX + "composer", "Mahler wrote it.", 0, 6, 13, 15)])
        assert count_examples(store) == {EX + "composer": 1}
        csv = run_query(store, f"SELECT ?l WHERE {{ <{EX}composer> <http://www.w3.org/2000/01/rdf-schema#label> ?l }}",
                        "text/csv")
        assert csv.body.decode().splitlines()[1] == "composed by"
        delete_relation(store, EX + "composer")
        assert count_examples(store) == {}
    finally:
        store.close()
