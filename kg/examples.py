"""Labelled examples of relations, persisted as RDF in kgrel's examples graph.

An example is a sentence with the character offsets of its head and tail mentions:

    <urn:kgrel:example:ID> a kgrel:Example ; kgrel:relation <r> ; kgrel:text "..." ;
        kgrel:headStart 0 ; kgrel:headEnd 5 ; kgrel:tailStart 12 ; kgrel:tailEnd 18 ;
        [kgrel:head <entity> ; kgrel:tail <entity> ;] prov:generatedAtTime "..."^^xsd:dateTime .
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyoxigraph as ox

from kgrel.kg.namespaces import EXAMPLES_GRAPH, KGREL, PROV, RDF, XSD
from kgrel.kg.store import KnowledgeStore

EXAMPLE_PREFIX = "urn:kgrel:example:"
_INT = ox.NamedNode(XSD + "integer")
_FIELDS = ("text", "headStart", "headEnd", "tailStart", "tailEnd", "head", "tail", "source")
# What ties an example to its relation and to the graph entities its mentions name (read by
# `OntologyView.argument_classes` and `changes.relations_with_new_facts`, where an example counts as a fact).
RELATION_PROPERTY, HEAD_PROPERTY, TAIL_PROPERTY = KGREL + "relation", KGREL + "head", KGREL + "tail"


@dataclass
class ExampleRecord:
    """One labelled sentence of a relation, with [start, end) character offsets of both mentions."""

    relation: str
    text: str
    head_start: int
    head_end: int
    tail_start: int
    tail_end: int
    head_entity: str | None = None
    tail_entity: str | None = None
    source: str | None = None  # e.g. the labelling session that produced it
    id: str = field(default_factory=lambda: EXAMPLE_PREFIX + uuid.uuid4().hex)
    created: str | None = None


def example_quads(record: ExampleRecord) -> list[ox.Quad]:
    g = ox.NamedNode(EXAMPLES_GRAPH)
    e = ox.NamedNode(record.id)

    def q(prop: str, obj) -> ox.Quad:
        return ox.Quad(e, ox.NamedNode(KGREL + prop), obj, g)

    created = record.created or datetime.now(UTC).isoformat()
    quads = [
        ox.Quad(e, ox.NamedNode(RDF + "type"), ox.NamedNode(KGREL + "Example"), g),
        ox.Quad(e, ox.NamedNode(RELATION_PROPERTY), ox.NamedNode(record.relation), g),
        q("text", ox.Literal(record.text)),
        q("headStart", ox.Literal(str(record.head_start), datatype=_INT)),
        q("headEnd", ox.Literal(str(record.head_end), datatype=_INT)),
        q("tailStart", ox.Literal(str(record.tail_start), datatype=_INT)),
        q("tailEnd", ox.Literal(str(record.tail_end), datatype=_INT)),
        ox.Quad(e, ox.NamedNode(PROV + "generatedAtTime"),
                ox.Literal(created, datatype=ox.NamedNode(XSD + "dateTime")), g),
    ]
    if record.head_entity:
        quads.append(ox.Quad(e, ox.NamedNode(HEAD_PROPERTY), ox.NamedNode(record.head_entity), g))
    if record.tail_entity:
        quads.append(ox.Quad(e, ox.NamedNode(TAIL_PROPERTY), ox.NamedNode(record.tail_entity), g))
    if record.source:
        quads.append(q("source", ox.NamedNode(record.source)))
    return quads


def add_examples(store: KnowledgeStore, records: Sequence[ExampleRecord]) -> None:
    """Persist examples, all in one transaction."""
    store.insert([quad for record in records for quad in example_quads(record)])


def list_examples(store: KnowledgeStore, relation: str | None = None) -> list[ExampleRecord]:
    """Examples of one relation (or of all relations), oldest first."""
    where_relation = f"VALUES ?r {{ <{relation}> }}" if relation else ""
    optional = " ".join(f"OPTIONAL {{ ?e <{KGREL}{f}> ?{f} }}" for f in _FIELDS)
    rows = store.select(
        f"SELECT ?e ?r ?created {' '.join('?' + f for f in _FIELDS)} WHERE {{ GRAPH <{EXAMPLES_GRAPH}> {{ "
        f"{where_relation} ?e a <{KGREL}Example> ; <{RELATION_PROPERTY}> ?r . "
        f"OPTIONAL {{ ?e <{PROV}generatedAtTime> ?created }} {optional} }} }} ORDER BY ?created ?e")
    return [_record(row) for row in rows if "text" in row]


def _record(row: dict) -> ExampleRecord:
    def value(name: str):
        term = row.get(name)
        return None if term is None else term.value

    return ExampleRecord(
        id=row["e"].value, relation=row["r"].value, text=row["text"].value,
        head_start=int(row["headStart"].value), head_end=int(row["headEnd"].value),
        tail_start=int(row["tailStart"].value), tail_end=int(row["tailEnd"].value),
        head_entity=value("head"), tail_entity=value("tail"), source=value("source"), created=value("created"))


def count_examples(store: KnowledgeStore) -> dict[str, int]:
    """Number of examples of every relation that has any."""
    rows = store.select(
        f"SELECT ?r (COUNT(?e) AS ?n) WHERE {{ GRAPH <{EXAMPLES_GRAPH}> {{ ?e <{RELATION_PROPERTY}> ?r }} }} "
        "GROUP BY ?r")
    return {row["r"].value: int(row["n"].value) for row in rows}


def delete_example_update(example_id: str) -> str:
    """The SPARQL update that deletes one example (to join other operations in one request)."""
    return f"DELETE WHERE {{ GRAPH <{EXAMPLES_GRAPH}> {{ <{example_id}> ?p ?o }} }}"


def delete_example(store: KnowledgeStore, example_id: str) -> None:
    store.update(delete_example_update(example_id))
