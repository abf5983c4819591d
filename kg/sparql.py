"""The SPARQL 1.1 protocol for clients: run a query within limits, pick the result format from
Accept, refuse unallowed SERVICE calls; run an update in one transaction."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import pyoxigraph as ox

from kgrel.kg import isolation, update_guard
from kgrel.kg.errors import SparqlError
from kgrel.kg.federation import check_no_load, check_services
from kgrel.kg.query_cost import one_scan
from kgrel.kg.store import KnowledgeStore

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"

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


def graph_format(accepted: list[str]) -> str:
    """The media type for a graph (CONSTRUCT, DESCRIBE, a Graph Store read) from a parsed Accept header.
    A client that asked for a results format (say JSON) gets Turtle, not a 406."""
    return _choose(accepted + ["text/turtle"], GRAPH_FORMATS, "CONSTRUCT and DESCRIBE")


def is_update(text: str) -> bool:
    """True when the text parses as a SPARQL update (and so must be refused on the query endpoint)."""
    from rdflib.plugins.sparql.parser import parseUpdate

    return _parses(parseUpdate, text)


def _is_query(text: str) -> bool:
    from rdflib.plugins.sparql.parser import parseQuery

    return _parses(parseQuery, text)


def _parses(parse, text: str) -> bool:
    try:
        parse(text)
    except Exception:  # pyparsing raises a variety of errors for text of the other kind
        return False
    return True


@dataclass(frozen=True)
class QueryLimits:
    """What one client query may take. The time and memory limits hold where queries run in a child
    process (the embedded store on Linux); the row cap and the SERVICE rule hold everywhere."""

    timeout_s: float = 30.0
    max_rows: int = 10_000
    memory_mb: int | None = 2048
    allowed_services: tuple[str, ...] = ()


class ResultTooLarge(SparqlError):
    """More result rows (or triples) than the row cap."""


def run_query(store: KnowledgeStore, query: str, accept: str | None, *, prefixes: dict[str, str] | None = None,
              default_graphs: Sequence[str] | None = None, named_graphs: Sequence[str] | None = None,
              limits: QueryLimits | None = None, cancelled: threading.Event | None = None) -> SparqlResponse:
    """Execute a client's read-only query within `limits` and serialise the result in the best format
    the client accepts. `cancelled`, once set, stops the query (the client went away)."""
    limits = limits or QueryLimits()
    if not query or not query.strip():
        raise SparqlError("empty SPARQL query: pass it as ?query=... or as the request body")
    check_services(query, limits.allowed_services)

    def evaluate() -> SparqlResponse:
        return _evaluate(store, query, accept, prefixes, default_graphs, named_graphs, limits.max_rows)

    # A query of one triple pattern costs one scan at most: the child would cost more than it protects.
    if store.can_fork_queries and isolation.available() and not one_scan(query):
        return isolation.run(evaluate, timeout_s=limits.timeout_s, memory_mb=limits.memory_mb, cancelled=cancelled)
    return evaluate()


def run_update(store: KnowledgeStore, update: str, *, prefixes: dict[str, str] | None = None,
               limits: QueryLimits | None = None) -> None:
    """Execute a client's SPARQL 1.1 Update in one transaction: all of it, or nothing on any error.

    SERVICE calls are held to the same allow-list as queries; LOAD is refused. The update itself runs
    in the server process (a child process must not write to the store), so its WHERE clauses are
    first run as queries in a child, within the time and memory limits (`kg.update_guard`); in
    updates, as SPARQL defines, the default graph is the store's own, not the union of its graphs."""
    limits = limits or QueryLimits()
    if not update or not update.strip():
        raise SparqlError("empty SPARQL update: send it as an application/sparql-update body or as update=...")
    check_services(update, limits.allowed_services)
    check_no_load(update)
    if store.can_fork_queries and isolation.available():
        _try_where_clauses(store, update, prefixes, limits)
    try:
        store.update(update, prefixes=prefixes)
    except SparqlError:
        if not is_update(update) and _is_query(update):
            raise SparqlError("this is a SPARQL query, not an update: send it to /graph/sparql") from None
        raise


def _try_where_clauses(store: KnowledgeStore, update: str, prefixes, limits: QueryLimits) -> None:
    declared = update_guard.prologue(update)
    for clause in update_guard.where_clauses(update):
        query = f"{declared}\nSELECT (COUNT(*) AS ?n) WHERE {clause.pattern}"
        try:
            run_query(store, query, None, prefixes=prefixes, default_graphs=clause.default_graphs or ["default"],
                      named_graphs=clause.named_graphs or None, limits=limits)
        except isolation.TimedOut:
            raise isolation.TimedOut(f"the update's WHERE clause did not finish within {limits.timeout_s:g} s; "
                                     "nothing was changed") from None
        except isolation.OutOfMemory:
            raise isolation.OutOfMemory("the update's WHERE clause needed more memory than a query may use; "
                                        "nothing was changed") from None
        except SparqlError:
            return  # a clause we read wrongly, or a syntax error: the store's own parser will say which


def _evaluate(store: KnowledgeStore, query: str, accept: str | None, prefixes, default_graphs, named_graphs,
              max_rows: int) -> SparqlResponse:
    try:
        result = store.query(query, prefixes=prefixes, default_graphs=default_graphs, named_graphs=named_graphs)
    except SparqlError:
        if is_update(query):
            raise SparqlError("SPARQL update operations are not accepted on /graph/sparql; "
                              "use /graph/update or add data with POST /graph/triples") from None
        raise
    try:
        return _serialize(result, parse_accept(accept), prefixes, max_rows)
    except SparqlError as e:  # no acceptable format, too many rows
        error = e.with_traceback(None)
    # pyoxigraph results must be freed on the thread that made them, not later through a traceback.
    del result
    raise error


def _serialize(result, accepted: list[str], prefixes, max_rows: int) -> SparqlResponse:
    if isinstance(result, ox.QueryBoolean):
        media = _choose(accepted, SOLUTION_FORMATS, "ASK")
        return SparqlResponse(result.serialize(format=SOLUTION_FORMATS[media]), media)
    if isinstance(result, ox.QuerySolutions):
        media = _choose(accepted, SOLUTION_FORMATS, "SELECT")
        variables = [v.value for v in result.variables]
        body = solutions_json(variables, _capped(result, max_rows, "rows"))
        if SOLUTION_FORMATS[media] != ox.QueryResultsFormat.JSON:
            body = ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON).serialize(
                format=SOLUTION_FORMATS[media])
        return SparqlResponse(body, media)
    triples = _capped(iter(result), max_rows, "triples")
    media = graph_format(accepted)
    return SparqlResponse(ox.serialize(triples, format=GRAPH_FORMATS[media], prefixes=prefixes or None), media)


def _capped(items, max_rows: int, what: str) -> list:
    kept = list(itertools.islice(items, max_rows + 1))
    if len(kept) > max_rows:
        raise ResultTooLarge(f"the result has more than {max_rows:,} {what} (KGREL_SPARQL_MAX_ROWS); "
                             "add LIMIT and OFFSET to page through it, or aggregate with COUNT")
    return kept


def solutions_json(variables: list[str], rows: list[ox.QuerySolution]) -> bytes:
    """SELECT results in the SPARQL 1.1 JSON results format (from rows already held in memory)."""
    bindings = []
    for row in rows:
        binding = {}
        for name in variables:
            term = row[name]
            if term is not None:
                binding[name] = _term_json(term)
        bindings.append(binding)
    return json.dumps({"head": {"vars": variables}, "results": {"bindings": bindings}},
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _term_json(term) -> dict:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Triple):
        return {"type": "triple", "value": {"subject": _term_json(term.subject),
                                            "predicate": _term_json(term.predicate),
                                            "object": _term_json(term.object)}}
    out = {"type": "literal", "value": term.value}
    if term.language:
        out["xml:lang"] = term.language
    elif term.datatype.value != XSD_STRING:
        out["datatype"] = term.datatype.value
    return out
