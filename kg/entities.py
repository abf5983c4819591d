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
