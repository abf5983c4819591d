"""The SPARQL 1.1 Graph Store HTTP Protocol's operations on one graph: read, replace, add to, drop.

A graph is a named graph's IRI, or None for the store's default graph (not the union kgrel's own
queries read). Replacing is one update (drop, then insert the new triples), so it is atomic on both
backends; the body's triples all go into the target graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyoxigraph as ox

from kgrel.kg.errors import NotFound, SparqlError
from kgrel.kg.sparql import ResultTooLarge
from kgrel.kg.store import KnowledgeStore, insert_data


def _target(graph: str | None) -> str:
    return "DEFAULT" if graph is None else f"GRAPH <{graph}>"


def exists(store: KnowledgeStore, graph: str | None) -> bool:
    if graph is None:
        return True
    return store.ask(f"ASK {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")


def read(store: KnowledgeStore, graph: str | None, max_triples: int) -> list[ox.Triple]:
    """The graph's triples; NotFound for a named graph with none; ResultTooLarge over `max_triples`."""
    if not exists(store, graph):
        raise NotFound(f"graph <{graph}> has no triples")
    pattern = "?s ?p ?o" if graph is None else f"GRAPH <{graph}> {{ ?s ?p ?o }}"
    triples = store.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ {pattern} }} LIMIT {max_triples + 1}",
                          default_graphs=["default"] if graph is None else None)
    if len(triples) > max_triples:
        raise ResultTooLarge(f"graph has more than {max_triples:,} triples (KGREL_SPARQL_MAX_ROWS); read it in "
                             "pages with a CONSTRUCT query and LIMIT/OFFSET")
    return triples


def in_graph(quads: Sequence[ox.Quad], graph: str | None) -> list[ox.Quad]:
    """The body's triples placed in the target graph; quads that name another graph are refused."""
    target = ox.DefaultGraph() if graph is None else ox.NamedNode(graph)
    out = []
    for q in quads:
        if not isinstance(q.graph_name, ox.DefaultGraph) and q.graph_name != target:
            raise SparqlError(f"the body names graph {q.graph_name}, but the request is for one graph; send "
                              "triples (Turtle, N-Triples, RDF/XML, JSON-LD), or use POST /graph/triples")
        out.append(ox.Quad(q.subject, q.predicate, q.object, target))
    return out


def replace(store: KnowledgeStore, graph: str | None, quads: Sequence[ox.Quad]) -> bool:
    """Make the graph hold exactly `quads`, in one transaction; True when the graph did not exist before."""
    created = not exists(store, graph)
    update = f"DROP SILENT {_target(graph)}"
    if quads:
        update += " ;\n" + insert_data(quads)
    store.update(update)
    return created


def drop(store: KnowledgeStore, graph: str | None) -> None:
    if not exists(store, graph):
        raise NotFound(f"graph <{graph}> has no triples")
    store.update(f"DROP SILENT {_target(graph)}")
