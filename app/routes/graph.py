"""Ingest RDF and query the graph with SPARQL 1.1 (read-only)."""

import threading
from urllib.parse import parse_qs

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from kgrel.app.deps import ServiceDep
from kgrel.app.schemas import ErrorOut
from kgrel.app.schemas.graph import EdgeOut, EntityOut, IngestOut, NodeOut, RewrittenLiteral
from kgrel.kg.errors import SparqlError, UnsupportedFormat
from kgrel.kg.formats import SUPPORTED_MEDIA_TYPES, format_for_media_type
from kgrel.kg.sparql import GRAPH_FORMATS, SOLUTION_FORMATS

router = APIRouter(prefix="/graph", tags=["graph"])
ERRORS = {400: {"model": ErrorOut}, 403: {"model": ErrorOut}, 406: {"model": ErrorOut}, 413: {"model": ErrorOut},
          415: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}}
# SELECT/ASK results and CONSTRUCT/DESCRIBE graphs, chosen by Accept.
SPARQL_RESULTS = {200: {"content": {media: {} for media in [*SOLUTION_FORMATS, *GRAPH_FORMATS]}}, **ERRORS}


@router.post("/triples", response_model=IngestOut, responses=ERRORS, openapi_extra={
    "requestBody": {"content": {m: {"schema": {"type": "string"}} for m in SUPPORTED_MEDIA_TYPES}, "required": True}})
async def add_triples(request: Request, service: ServiceDep,
                      graph: str | None = Query(None, description="Named graph (IRI or CURIE) "
                                                "for triples outside any named graph"),
                      base: str | None = Query(None, description="Base IRI for relative IRIs")) -> IngestOut:
    """Add RDF in the format named by Content-Type. All or nothing: a syntax error inserts nothing."""
    rdf_format = format_for_media_type(request.headers.get("content-type"))
    body = await request.body()
    report = await run_in_threadpool(service.graph.ingest, body, rdf_format, graph=graph, base_iri=base)
    return IngestOut(added=report.added, parsed=report.parsed, graph=service.graph.iri(graph) if graph else None,
                     rewritten=report.rewritten,
                     rewritten_examples=[RewrittenLiteral(given=g, stored=s) for g, s in report.rewritten_examples])


async def _sparql_response(request: Request, service: ServiceDep, query: str, default_graphs,
                           named_graphs) -> Response:
    """Run the query on a worker thread while watching the connection: a client that goes away stops it."""
    cancelled = threading.Event()
    outcome = {}

    async def run() -> None:
        try:
            outcome["result"] = await run_in_threadpool(service.graph.sparql, query, request.headers.get("accept"),
                                                        default_graphs, named_graphs, cancelled)
        except Exception as e:  # raised below, outside the task group, for the error handlers
            outcome["error"] = e
        finally:
            tasks.cancel_scope.cancel()

    async def watch() -> None:
        while not cancelled.is_set():
            if await request.is_disconnected():
                cancelled.set()
            await anyio.sleep(0.25)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run)
        tasks.start_soon(watch)
    if "error" in outcome:
        raise outcome["error"]
    result = outcome["result"]
    return Response(content=result.body, media_type=result.media_type)


@router.get("/sparql", responses=SPARQL_RESULTS)
async def sparql_get(request: Request, service: ServiceDep,
                     query: str = Query(..., description="SPARQL 1.1 query")) -> Response:
    """SELECT, ASK, CONSTRUCT or DESCRIBE; JSON, CSV, TSV or XML results (Turtle etc. for graphs) by Accept.

    Runs within the server's limits: a time limit (503), a row cap (422), a few queries at once (503 with
    Retry-After), and no SERVICE calls unless allow-listed (403). A client that disconnects stops its query."""
    params = request.query_params
    return await _sparql_response(request, service, query, params.getlist("default-graph-uri"),
                                  params.getlist("named-graph-uri"))


@router.post("/sparql", responses=SPARQL_RESULTS, openapi_extra={"requestBody": {"content": {
    "application/sparql-query": {"schema": {"type": "string"}},
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"query": {"type": "string"}}}},
}}})
async def sparql_post(request: Request, service: ServiceDep) -> Response:
    """The same query as GET, sent as application/sparql-query or a form with `query`. Updates are refused."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    params = request.query_params
    default_graphs, named_graphs = params.getlist("default-graph-uri"), params.getlist("named-graph-uri")
    if media == "application/sparql-update":
        raise SparqlError("SPARQL update operations are not accepted on /graph/sparql; "
                          "add data with POST /graph/triples")
    if media == "application/x-www-form-urlencoded":
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        if "update" in form:
            raise SparqlError("SPARQL update operations are not accepted on /graph/sparql")
        query = (form.get("query") or [""])[0]
        default_graphs += form.get("default-graph-uri", [])
        named_graphs += form.get("named-graph-uri", [])
    elif media in ("application/sparql-query", "text/plain", ""):
        query = (await request.body()).decode("utf-8", errors="replace")
    else:
        raise UnsupportedFormat(f"unsupported Content-Type {media!r} for a SPARQL query; use application/sparql-query "
                          "or application/x-www-form-urlencoded")
    return await _sparql_response(request, service, query, default_graphs, named_graphs)


@router.get("/entities/{entity_id:path}", response_model=EntityOut, responses={404: {"model": ErrorOut}})
def entity(entity_id: str, service: ServiceDep, limit: int = Query(50, ge=1, le=1000)) -> EntityOut:
    """An entity with its labels, classes, hypernyms and neighbours in both directions."""
    info, near = service.graph.entity(entity_id, limit)
    iris = [o for _, o in near.outgoing] + [s for s, _ in near.incoming]
    iris += [p for p, _ in near.outgoing] + [p for _, p in near.incoming]
    labels = service.graph.labels(list(dict.fromkeys(iris)))

    def node(value: str) -> NodeOut:
        return NodeOut(id=value, curie=service.graph.curie(value), label=labels.get(value))

    return EntityOut(id=info.iri, curie=service.graph.curie(info.iri), labels=info.labels, classes=info.classes,
                     hypernyms=info.hypernyms,
                     outgoing=[EdgeOut(relation=node(p), entity=node(o)) for p, o in near.outgoing],
                     incoming=[EdgeOut(relation=node(p), entity=node(s)) for s, p in near.incoming])
