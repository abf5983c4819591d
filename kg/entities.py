"""Entities as the graph holds them: their labels, their facts with other resources, their neighbours."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pyoxigraph as ox

from kgrel.kg.errors import InvalidIdentifier, KGError
from kgrel.kg.namespaces import RDF, RDFS
from kgrel.kg.store import KnowledgeStore


def facts_of(store: KnowledgeStore, iri: str, limit: int = 500) -> list[tuple[str, str, str]]:
    """(subject, predicate, object) triples linking an entity to other resources, in either direction."""
    rows = store.select(
        f"SELECT ?s ?p ?o WHERE {{ {{ <{iri}> ?p ?o FILTER(isIRI(?o)) BIND(<{iri}> AS ?s) }} UNION "
        f"{{ ?s ?p <{iri}> FILTER(isIRI(?s)) BIND(<{iri}> AS ?o) }} }} LIMIT {limit}")
    return [(r["s"].value, r["p"].value, r["o"].value) for r in rows]


def first_labels(store: KnowledgeStore, iris: list[str]) -> dict[str, str]:
    """One rdfs:label per resource that has one."""
    if not iris:
        return {}
    values = " ".join(f"<{i}>" for i in iris)
    rows = store.select(f"SELECT ?e ?l WHERE {{ VALUES ?e {{ {values} }} ?e <{RDFS}label> ?l }}")
    out: dict[str, str] = {}
    for r in rows:
        out.setdefault(r["e"].value, r["l"].value)
    return out


@dataclass
class Neighbourhood:
    """An entity's facts with other resources: (relation, object) going out, (subject, relation) coming in,
    one page of each, and how many there are in all."""

    outgoing: list[tuple[str, str]]
    incoming: list[tuple[str, str]]
    outgoing_total: int = 0
    incoming_total: int = 0


# kgrel's own nodes (provenance statements, examples, decisions, sessions) are not the entity's neighbours.
_NOT_INTERNAL = 'FILTER(!STRSTARTS(STR(?{v}), "urn:kgrel:"))'


def neighbourhood(store: KnowledgeStore, iri: str, limit: int = 50, offset: int = 0) -> Neighbourhood:
    """`limit` facts each way from `offset`, in a stable order, each once however many graphs hold it;
    rdf:type is left out of the outgoing ones (classes are listed apart)."""
    outgoing = f"<{iri}> ?p ?o FILTER(isIRI(?o) && ?p != <{RDF}type>) {_NOT_INTERNAL.format(v='o')}"
    incoming = f"?s ?p <{iri}> FILTER(isIRI(?s)) {_NOT_INTERNAL.format(v='s')}"
    page = f"LIMIT {limit} OFFSET {offset}"
    out_rows = store.select(f"SELECT DISTINCT ?p ?o WHERE {{ {outgoing} }} ORDER BY ?p ?o {page}")
    in_rows = store.select(f"SELECT DISTINCT ?s ?p WHERE {{ {incoming} }} ORDER BY ?p ?s {page}")
    totals = store.select(f"SELECT (COUNT(DISTINCT ?po) AS ?out) (COUNT(DISTINCT ?sp) AS ?in) WHERE {{ "
                          f"{{ {outgoing} BIND(CONCAT(STR(?p), ' ', STR(?o)) AS ?po) }} UNION "
                          f"{{ {incoming} BIND(CONCAT(STR(?s), ' ', STR(?p)) AS ?sp) }} }}")
    return Neighbourhood([(r["p"].value, r["o"].value) for r in out_rows],
                         [(r["s"].value, r["p"].value) for r in in_rows],
                         int(totals[0]["out"].value) if totals else 0, int(totals[0]["in"].value) if totals else 0)


ENTITY_BASE = "https://w3id.org/kgrel/entity/"  # where entities minted without an IRI are named


class EntityExists(KGError):
    """Minting an entity at an IRI already in use."""


def mint_entity(store: KnowledgeStore, label: str, iri: str | None = None, cls: str | None = None,
                lang: str = "en") -> str:
    """A new entity named `label` (and of class `cls`), at `iri` or at an IRI made from the label; refused
    when that IRI already has triples (an existing entity is linked, not minted again)."""
    label = label.strip()
    if not label:
        raise InvalidIdentifier("a new entity needs a label")
    if iri is None:
        slug = re.sub(r"\W+", "-", label.lower()).strip("-")[:60] or "entity"
        iri = f"{ENTITY_BASE}{slug}-{hashlib.sha1(label.encode()).hexdigest()[:6]}"
    if store.ask(f"ASK {{ {{ <{iri}> ?p ?o }} UNION {{ ?s ?p <{iri}> }} }}"):
        raise EntityExists(f"{iri} already names an entity: link the mention to it instead")
    node = ox.NamedNode(iri)
    quads = [ox.Quad(node, ox.NamedNode(RDFS + "label"), ox.Literal(label, language=lang), ox.DefaultGraph())]
    if cls:
        quads.append(ox.Quad(node, ox.NamedNode(RDF + "type"), ox.NamedNode(cls), ox.DefaultGraph()))
    store.insert(quads)
    return iri
