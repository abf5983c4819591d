"""The read-only SPARQL 1.1 protocol: run a query, pick the result format from Accept, refuse updates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyoxigraph as ox

from kgrel.kg.errors import SparqlError
from kgrel.kg.store import KnowledgeStore

# Media types offered for SELECT/ASK results and for CONSTRUCT/DESCRIBE graphs, first is the default.
SOLUTION_FORMATS: dict[str, ox.QueryResultsFormat] = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
}
GRAPH_FORMATS: dict[str, ox.RdfFormat] = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}


class NotAcceptable(SparqlError):
    """No media type in the Accept header can carry this kind of result."""


@dataclass
class SparqlResponse:
    body: bytes
    media_type: str


def parse_accept(accept: str | None) -> list[str]:
    """Media types of an Accept header, best first (q-values honoured, q=0 dropped)."""
    if not accept:
        return ["*/*"]
    ranked = []
    for i, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if fields[0] and q > 0:
            ranked.append((-q, i, fields[0].lower()))
    return [m for _, _, m in sorted(ranked)] or ["*/*"]


def _choose(accepted: list[str], offered: dict, kind: str) -> str:
    for media in accepted:
        if media in offered:
            return media
        if media in ("*/*", "application/*", "text/*"):
            for candidate in offered:
                if media == "*/*" or candidate.startswith(media[:-1]):
                    return candidate
    raise NotAcceptable(f"{kind} results can be sent as " + ", ".join(offered)
                        + f"; the Accept header asked for {', '.join(accepted)}")


def is_update(text: str) -> bool:
    """True when the text parses as a SPARQL update (and so must be refused on the query endpoint)."""
    from rdflib.plugins.sparql.parser import parseUpdate

    try:
        parseUpdate(text)
    except Exception:  # pyparsing raises a variety of errors for non-updates
        return False
    return True


def run_query(store: KnowledgeStore, query: str, accept: str | None, *, prefixes: dict[str, str] | None = None,
              default_graphs: Sequence[str] | None = None,
              named_graphs: Sequence[str] | None = None) -> SparqlResponse:
    """Execute a read-only query and serialise the result in the best format the client accepts."""
    if not query or not query.strip():
        raise SparqlError("empty SPARQL query: pass it as ?query=... or as the request body")
    try:
        result = store.query(query, prefixes=prefixes, default_graphs=default_graphs, named_graphs=named_graphs)
    except SparqlError:
        if is_update(query):
            raise SparqlError("SPARQL update operations are not accepted on /graph/sparql; "
                              "add data with POST /graph/triples") from None
        raise
    solutions = isinstance(result, ox.QuerySolutions | ox.QueryBoolean)
    try:
        media = _choose(parse_accept(accept), SOLUTION_FORMATS if solutions else GRAPH_FORMATS,
                        "SELECT and ASK" if solutions else "CONSTRUCT and DESCRIBE")
    except NotAcceptable:
        # pyoxigraph results must be freed on the thread that made them, not via the traceback elsewhere.
        del result
        raise
    if solutions:
        return SparqlResponse(result.serialize(format=SOLUTION_FORMATS[media]), media)
    return SparqlResponse(ox.serialize(result, format=GRAPH_FORMATS[media], prefixes=prefixes or None), media)
