"""Ingest RDF, query the graph with SPARQL 1.1, correct it with SPARQL Update and the Graph Store Protocol."""

import threading
from urllib.parse import parse_qs

import anyio
import pyoxigraph as ox
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from kgrel.app.deps import GraphDep
from kgrel.app.schemas import ErrorOut
from kgrel.app.schemas.graph import EdgeOut, EntityIn, EntityMatch, EntityOut, IngestOut, NodeOut, RewrittenLiteral
from kgrel.app.services.graph import GraphService
from kgrel.kg.errors import SparqlError, UnsupportedFormat
from kgrel.kg.formats import SUPPORTED_MEDIA_TYPES, format_for_media_type
from kgrel.kg.sparql import GRAPH_FORMATS, SOLUTION_FORMATS, graph_format, parse_accept

router = APIRouter(prefix="/graph", tags=["graph"])
ERRORS = {400: {"model": ErrorOut}, 403: {"model": ErrorOut}, 406: {"model": ErrorOut}, 413: {"model": ErrorOut},
          415: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}}
# SELECT/ASK results and CONSTRUCT/DESCRIBE graphs, chosen by Accept.
SPARQL_RESULTS = {200: {"content": {media: {} for media in [*SOLUTION_FORMATS, *GRAPH_FORMATS]}}, **ERRORS}


@router.post("/triples", response_model=IngestOut, responses=ERRORS, openapi_extra={
    "requestBody": {"content": {m: {"schema": {"type": "string"}} for m in SUPPORTED_MEDIA_TYPES}, "required": True}})
async def add_triples(request: Request, kg: GraphDep,
                      graph: str | None = Query(None, description="Named graph (IRI or CURIE) "
                                                "for triples outside any named graph"),
                      base: str | None = Query(None, description="Base IRI for relative IRIs")) -> IngestOut:
    """Add RDF in the format named by Content-Type. All or nothing: a syntax error inserts nothing."""
    rdf_format = format_for_media_type(request.headers.get("content-type"))
    body = await request.body()
    report = await run_in_threadpool(kg.ingest, body, rdf_format, graph=graph, base_iri=base)
    return ingest_out(kg, report, graph)


async def _sparql_response(request: Request, kg: GraphService, query: str, default_graphs,
                           named_graphs) -> Response:
    """Run the query on a worker thread while watching the connection: a client that goes away stops it."""
    cancelled = threading.Event()
    outcome = {}

    async def run() -> None:
        try:
            outcome["result"] = await run_in_threadpool(kg.sparql, query, request.headers.get("accept"),
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
async def sparql_get(request: Request, kg: GraphDep,
                     query: str = Query(..., description="SPARQL 1.1 query")) -> Response:
    """SELECT, ASK, CONSTRUCT or DESCRIBE; JSON, CSV, TSV or XML results (Turtle etc. for graphs) by Accept.

    Runs within the server's limits: a time limit (503), a row cap (422), a few queries at once (503 with
    Retry-After), and no SERVICE calls unless allow-listed (403). A client that disconnects stops its query."""
    params = request.query_params
    return await _sparql_response(request, kg, query, params.getlist("default-graph-uri"),
                                  params.getlist("named-graph-uri"))


@router.post("/sparql", responses=SPARQL_RESULTS, openapi_extra={"requestBody": {"content": {
    "application/sparql-query": {"schema": {"type": "string"}},
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"query": {"type": "string"}}}},
}}})
async def sparql_post(request: Request, kg: GraphDep) -> Response:
    """The same query as GET, sent as application/sparql-query or a form with `query`. Updates are refused."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    params = request.query_params
    default_graphs, named_graphs = params.getlist("default-graph-uri"), params.getlist("named-graph-uri")
    if media == "application/sparql-update":
        raise SparqlError("SPARQL updates go to POST /graph/update, not /graph/sparql")
    if media == "application/x-www-form-urlencoded":
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        if "update" in form:
            raise SparqlError("SPARQL updates go to POST /graph/update, not /graph/sparql")
        query = (form.get("query") or [""])[0]
        default_graphs += form.get("default-graph-uri", [])
        named_graphs += form.get("named-graph-uri", [])
    elif media in ("application/sparql-query", "text/plain", ""):
        query = (await request.body()).decode("utf-8", errors="replace")
    else:
        raise UnsupportedFormat(f"unsupported Content-Type {media!r} for a SPARQL query; use application/sparql-query "
                          "or application/x-www-form-urlencoded")
    return await _sparql_response(request, kg, query, default_graphs, named_graphs)


@router.post("/update", status_code=204, responses={**ERRORS, 204: {"description": "the update was applied"}},
             openapi_extra={"requestBody": {"content": {
                 "application/sparql-update": {"schema": {"type": "string"}},
                 "application/x-www-form-urlencoded": {"schema": {"type": "object",
                                                                  "properties": {"update": {"type": "string"}}}},
             }, "required": True}})
async def sparql_update(request: Request, kg: GraphDep) -> Response:
    """SPARQL 1.1 Update (INSERT/DELETE DATA, DELETE/INSERT WHERE, LOAD is refused, CLEAR, DROP, ADD, MOVE,
    COPY), as an application/sparql-update body or a form with `update`. One transaction: an error anywhere
    changes nothing. Needs the write key."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    body = (await request.body()).decode("utf-8", errors="replace")
    if media == "application/x-www-form-urlencoded":
        text = (parse_qs(body).get("update") or [""])[0]
    elif media == "application/sparql-update":
        text = body
    else:
        raise UnsupportedFormat(f"unsupported Content-Type {media or '(none)'!r} for a SPARQL update; use "
                                "application/sparql-update or application/x-www-form-urlencoded")
    await run_in_threadpool(kg.update, text)
    return Response(status_code=204)


def _one_graph(request: Request, graph: str | None) -> str | None:
    """The Graph Store Protocol's target: ?graph=IRI (or CURIE) or ?default, exactly one of them."""
    default = "default" in request.query_params
    if default == (graph is not None):
        raise SparqlError("name one graph: ?graph=IRI (or a CURIE) or ?default")
    return graph


GRAPH_PARAM = Query(None, description="the named graph (IRI or CURIE); or pass ?default for the default graph")


@router.get("/store", responses={200: {"content": {media: {} for media in GRAPH_FORMATS}}, 404: {"model": ErrorOut},
                                 **ERRORS})
def graph_store_get(request: Request, kg: GraphDep, graph: str | None = GRAPH_PARAM) -> Response:
    """Graph Store Protocol: one graph's triples, in the format chosen by Accept (Turtle by default)."""
    target = _one_graph(request, graph)
    triples = kg.read_graph(target)
    media = graph_format(parse_accept(request.headers.get("accept")))
    return Response(ox.serialize(triples, format=GRAPH_FORMATS[media], prefixes=kg.prefixes.as_dict()),
                    media_type=media)


@router.put("/store", response_model=IngestOut, responses={201: {"model": IngestOut}, **ERRORS},
            openapi_extra={"requestBody": {"content": {m: {"schema": {"type": "string"}}
                                                       for m in SUPPORTED_MEDIA_TYPES}, "required": True}})
async def graph_store_put(request: Request, response: Response, kg: GraphDep,
                          graph: str | None = GRAPH_PARAM) -> IngestOut:
    """Graph Store Protocol: replace the graph with the body's triples, in one transaction (201 when new)."""
    target = _one_graph(request, graph)
    rdf_format = format_for_media_type(request.headers.get("content-type"))
    body = await request.body()
    report, created = await run_in_threadpool(kg.replace_graph, target, body, rdf_format)
    response.status_code = 201 if created else 200
    return ingest_out(kg, report, target)


@router.post("/store", response_model=IngestOut, responses=ERRORS, openapi_extra={
    "requestBody": {"content": {m: {"schema": {"type": "string"}} for m in SUPPORTED_MEDIA_TYPES}, "required": True}})
async def graph_store_post(request: Request, kg: GraphDep, graph: str | None = GRAPH_PARAM) -> IngestOut:
    """Graph Store Protocol: add the body's triples to the graph (as POST /graph/triples does)."""
    target = _one_graph(request, graph)
    rdf_format = format_for_media_type(request.headers.get("content-type"))
    body = await request.body()
    report = await run_in_threadpool(kg.ingest, body, rdf_format, graph=target)
    return ingest_out(kg, report, target)


@router.delete("/store", status_code=204, responses={404: {"model": ErrorOut}, **ERRORS})
def graph_store_delete(request: Request, kg: GraphDep, graph: str | None = GRAPH_PARAM) -> Response:
    """Graph Store Protocol: drop the graph (404 when it holds nothing)."""
    kg.drop_graph(_one_graph(request, graph))
    return Response(status_code=204)


def ingest_out(kg: GraphService, report, graph: str | None) -> IngestOut:
    return IngestOut(added=report.added, parsed=report.parsed, graph=kg.iri(graph) if graph else None,
                     rewritten=report.rewritten,
                     rewritten_examples=[RewrittenLiteral(given=g, stored=s) for g, s in report.rewritten_examples])


@router.post("/entities", status_code=201, response_model=EntityMatch, responses={**ERRORS, 409: {"model": ErrorOut}})
def mint_entity(body: EntityIn, kg: GraphDep) -> EntityMatch:
    """A new entity (label, and class) for a name the graph does not know; 409 when the IRI is taken."""
    iri = kg.mint_entity(body.label, body.id, body.type)
    return EntityMatch(id=iri, curie=kg.curie(iri), label=body.label, matched=body.label, score=1.0)


@router.get("/entities", response_model=list[EntityMatch])
def search_entities(kg: GraphDep, q: str = Query(..., min_length=1, max_length=200,
                                                        description="A name, or part of one; typos are forgiven"),
                    limit: int = Query(10, ge=1, le=100)) -> list[EntityMatch]:
    """Entities whose label or alias matches `q`: exact names first, then names containing it, then names
    close to it in spelling (case and accents ignored); each with the name that matched and a score."""
    found = kg.search_entities(q, limit)
    labels = kg.labels([iri for iri, _, _ in found])
    return [EntityMatch(id=iri, curie=kg.curie(iri), label=labels.get(iri), matched=name, score=score)
            for iri, name, score in found]


@router.get("/entities/{entity_id:path}", response_model=EntityOut, responses={404: {"model": ErrorOut}})
def entity(entity_id: str, kg: GraphDep, limit: int = Query(50, ge=1, le=1000),
           offset: int = Query(0, ge=0, description="Skip this many facts each way (the next page)")) -> EntityOut:
    """An entity with its labels, classes, hypernyms and neighbours in both directions: a page of facts
    each way (each once, kgrel's own provenance nodes left out) and how many there are in all."""
    info, near = kg.entity(entity_id, limit, offset)
    iris = [o for _, o in near.outgoing] + [s for s, _ in near.incoming]
    iris += [p for p, _ in near.outgoing] + [p for _, p in near.incoming]
    labels = kg.labels(list(dict.fromkeys(iris)))

    def node(value: str) -> NodeOut:
        return NodeOut(id=value, curie=kg.curie(value), label=labels.get(value))

    return EntityOut(id=info.iri, curie=kg.curie(info.iri), labels=info.labels, classes=info.classes,
                     hypernyms=info.hypernyms,
                     outgoing=[EdgeOut(relation=node(p), entity=node(o)) for p, o in near.outgoing],
                     incoming=[EdgeOut(relation=node(p), entity=node(s)) for s, p in near.incoming],
                     outgoing_total=near.outgoing_total, incoming_total=near.incoming_total)
