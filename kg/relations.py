"""Register and delete relations by writing their description into the graph."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyoxigraph as ox

from kgrel.kg.errors import KGError, NotFound
from kgrel.kg.examples import RELATION_PROPERTY
from kgrel.kg.namespaces import EXAMPLES_GRAPH, OWL, RDF, RDFS, RELATION_TYPES, RELATIONS_GRAPH, SKOS
from kgrel.kg.store import KnowledgeStore


class RelationExists(KGError):
    """Registering a relation the graph already has."""


@dataclass
class RelationSpec:
    """A relation as a user registers it."""

    iri: str
    label: str
    aliases: list[str] = field(default_factory=list)
    description: str = ""
    domain: list[str] = field(default_factory=list)  # class IRIs
    range: list[str] = field(default_factory=list)
    symmetric: bool = False  # owl:SymmetricProperty
    inverse: str | None = None  # IRI of the inverse relation (owl:inverseOf)


def is_relation(store: KnowledgeStore, iri: str) -> bool:
    values = " ".join(f"<{t}>" for t in RELATION_TYPES)
    return store.ask(f"ASK {{ VALUES ?t {{ {values} }} <{iri}> a ?t }}")


def relation_quads(spec: RelationSpec) -> list[ox.Quad]:
    """The triples that describe a relation, in kgrel's relations graph."""
    g = ox.NamedNode(RELATIONS_GRAPH)
    r = ox.NamedNode(spec.iri)
    quads = [ox.Quad(r, ox.NamedNode(RDF + "type"), ox.NamedNode(OWL + "ObjectProperty"), g),
             ox.Quad(r, ox.NamedNode(RDFS + "label"), ox.Literal(spec.label, language="en"), g)]
    quads += [ox.Quad(r, ox.NamedNode(SKOS + "altLabel"), ox.Literal(a, language="en"), g) for a in spec.aliases]
    if spec.description:
        quads.append(ox.Quad(r, ox.NamedNode(RDFS + "comment"), ox.Literal(spec.description, language="en"), g))
    quads += [ox.Quad(r, ox.NamedNode(RDFS + "domain"), ox.NamedNode(c), g) for c in spec.domain]
    quads += [ox.Quad(r, ox.NamedNode(RDFS + "range"), ox.NamedNode(c), g) for c in spec.range]
    if spec.symmetric:
        quads.append(ox.Quad(r, ox.NamedNode(RDF + "type"), ox.NamedNode(OWL + "SymmetricProperty"), g))
    if spec.inverse:
        quads.append(ox.Quad(r, ox.NamedNode(OWL + "inverseOf"), ox.NamedNode(spec.inverse), g))
    return quads


def register_relation(store: KnowledgeStore, spec: RelationSpec) -> None:
    """Write a new relation into the graph; refuses one that already exists (delete it first)."""
    if is_relation(store, spec.iri):
        raise RelationExists(f"relation {spec.iri} already exists; DELETE it first to redefine it")
    store.insert(relation_quads(spec))


def delete_relation(store: KnowledgeStore, iri: str) -> None:
    """Remove a relation's description (from every graph) and its examples, in one transaction.

    Facts that use the relation as a predicate stay: they are data, not the relation's definition.
    """
    if not is_relation(store, iri):
        raise NotFound(f"relation {iri} not found")
    store.update(
        f"DELETE WHERE {{ {store.default_pattern(f'<{iri}> ?p ?o')} }} ; "
        f"DELETE WHERE {{ GRAPH ?g {{ <{iri}> ?p ?o }} }} ; "
        f"DELETE WHERE {{ GRAPH <{EXAMPLES_GRAPH}> {{ ?e <{RELATION_PROPERTY}> <{iri}> ; ?ep ?eo }} }}")
