"""Entities as the graph holds them: their labels, their facts with other resources, their neighbours."""

from __future__ import annotations

from dataclasses import dataclass

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
    """An entity's facts with other resources: (relation, object) going out, (subject, relation) coming in."""

    outgoing: list[tuple[str, str]]
    incoming: list[tuple[str, str]]


def neighbourhood(store: KnowledgeStore, iri: str, limit: int = 50) -> Neighbourhood:
    """At most `limit` facts each way; rdf:type is left out of the outgoing ones (classes are listed apart)."""
    out_rows = store.select(
        f"SELECT ?p ?o WHERE {{ <{iri}> ?p ?o FILTER(isIRI(?o) && ?p != <{RDF}type>) }} LIMIT {limit}")
    in_rows = store.select(f"SELECT ?s ?p WHERE {{ ?s ?p <{iri}> FILTER(isIRI(?s)) }} LIMIT {limit}")
    return Neighbourhood([(r["p"].value, r["o"].value) for r in out_rows],
                         [(r["s"].value, r["p"].value) for r in in_rows])
