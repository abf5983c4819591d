"""Labelling sessions: add text, review the most informative suggestions, export the facts."""

import pyoxigraph as ox
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from kgrel.app.deps import GraphDep, LabellingDep
from kgrel.app.schemas import ErrorOut
from kgrel.app.schemas.labelling import (
    Alternative,
    CandidateOut,
    DecisionIn,
    SessionIn,
    SessionOut,
    SuggestionOut,
    TextsAdded,
    TextsIn,
    UndoIn,
)
from kgrel.app.schemas.relations import MentionOut
from kgrel.app.services.graph import GraphService
from kgrel.kg.provenance import session_graph
from kgrel.kg.sparql import NotAcceptable, parse_accept

router = APIRouter(prefix="/sessions", tags=["labelling"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}}


def candidate_out(c) -> dict:
    return {"id": c.id, "sentence": c.sentence, "document": c.document, "offset": c.offset,
            "head": MentionOut(**vars(c.head)), "tail": MentionOut(**vars(c.tail)), "status": c.status,
            "relation": c.relation, "example": c.example, "statement": c.statement, "user": c.user,
            "decided": c.decided,
            "support": [{"sentence": s.sentence, "offset": s.offset, "head": MentionOut(**vars(s.head)),
                         "tail": MentionOut(**vars(s.tail))} for s in c.support]}


def session_out(graph: GraphService, s) -> SessionOut:
    info, examples = graph.relation(s.relation)
    return SessionOut(id=s.id, name=s.name, relation=s.relation, curie=graph.curie(s.relation),
                      label=info.label, user=s.user, created=s.created, graph=session_graph(s.id),
                      counts=s.counts(), examples=examples)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SessionOut, responses=ERRORS)
def create_session(body: SessionIn, labelling: LabellingDep, graph: GraphDep) -> SessionOut:
    """Open a labelling session for a relation; its facts go into the graph urn:kgrel:graph:session:{id}."""
    return session_out(graph, labelling.create_session(body.relation, body.name, body.user))


@router.get("", response_model=list[SessionOut])
def list_sessions(labelling: LabellingDep, graph: GraphDep) -> list[SessionOut]:
    return [session_out(graph, labelling.session(s.id)) for s in labelling.sessions.all()]


@router.get("/{session_id}", response_model=SessionOut, responses=ERRORS)
def get_session(session_id: str, labelling: LabellingDep, graph: GraphDep) -> SessionOut:
    return session_out(graph, labelling.session(session_id))


@router.post("/{session_id}/texts", response_model=TextsAdded, responses=ERRORS)
def add_texts(session_id: str, body: TextsIn, labelling: LabellingDep) -> TextsAdded:
    """Add sentences to the session's pool: every pair of linked mentions becomes a candidate."""
    return TextsAdded(**labelling.add_texts(session_id, body.all_documents(), body.mention_dicts()))


@router.get("/{session_id}/suggestions", response_model=list[SuggestionOut], responses=ERRORS)
def suggestions(session_id: str, graph: GraphDep, labelling: LabellingDep, n: int = Query(10, ge=1, le=200),
                diversity: float = Query(0.5, ge=0, le=1)) -> list[SuggestionOut]:
    """Candidates to review next, most informative first (uncertain, and spread over the text), each
    with the model's three likeliest other relations (the page's number keys correct to them)."""
    return [SuggestionOut(**candidate_out(s.candidate), score=s.score,
                          alternatives=[Alternative(relation=iri, curie=graph.curie(iri), label=label, score=p)
                                        for iri, label, p in s.alternatives])
            for s in labelling.suggestions(session_id, n, diversity)]


@router.post("/{session_id}/suggestions/{candidate_id}", response_model=CandidateOut, responses=ERRORS)
def decide(session_id: str, candidate_id: str, body: DecisionIn, labelling: LabellingDep) -> CandidateOut:
    """Accept, reject or correct a suggestion; accepted sentences become examples at once.

    Sending the same decision again changes nothing (a retry is safe); a different one is 409."""
    return CandidateOut(**candidate_out(labelling.decide(session_id, candidate_id, body.decision,
                                                         body.relation, body.user, body.score)))


@router.get("/{session_id}/candidates", response_model=list[CandidateOut], responses=ERRORS)
def candidates(session_id: str, labelling: LabellingDep,
               status: str | None = Query(None, pattern="^(pending|accepted|rejected|corrected)$",
                                          description="Only those with this status (all when absent)"),
               ) -> list[CandidateOut]:
    """Every candidate of the session in text order, with its status: to review what was decided."""
    session = labelling.session(session_id)
    return [CandidateOut(**candidate_out(c)) for c in session.candidates if status is None or c.status == status]


@router.post("/{session_id}/suggestions/{candidate_id}/undo", response_model=CandidateOut, responses=ERRORS)
def undo(session_id: str, candidate_id: str, labelling: LabellingDep, body: UndoIn | None = None) -> CandidateOut:
    """Take a decision back: its example and fact leave the graph (a kgrel:Revision records who undid it and
    when) and the suggestion is pending again, to be decided anew. 409 when it has no decision."""
    user = body.user if body else None
    return CandidateOut(**candidate_out(labelling.undo(session_id, candidate_id, user)))


@router.post("/{session_id}/suggestions/{candidate_id}/swap", response_model=CandidateOut, responses=ERRORS)
def swap(session_id: str, candidate_id: str, labelling: LabellingDep) -> CandidateOut:
    """Exchange head and tail of a pending suggestion (the model read the pair the wrong way round); the
    direction then stays as the user set it."""
    return CandidateOut(**candidate_out(labelling.swap(session_id, candidate_id)))


FACT_FORMATS = {"turtle": ("text/turtle", ox.RdfFormat.TURTLE), "nquads": ("application/n-quads", ox.RdfFormat.N_QUADS),
                "ntriples": ("application/n-triples", ox.RdfFormat.N_TRIPLES)}


@router.get("/{session_id}/facts", responses={**ERRORS, 200: {"content": {m: {} for m, _ in FACT_FORMATS.values()}}})
def session_facts(session_id: str, request: Request, labelling: LabellingDep,
                  format: str | None = Query(None, pattern="^(turtle|nquads|ntriples)$")) -> Response:
    """The session's facts and their provenance, as Turtle or N-Quads (by ?format= or Accept)."""
    if format is None:
        by_media = {media: name for name, (media, _) in FACT_FORMATS.items()}
        accepted = parse_accept(request.headers.get("accept"))
        format = next((by_media[m] for m in accepted if m in by_media), "turtle" if "*/*" in accepted or
                      "text/*" in accepted else None)
        if format is None:
            raise NotAcceptable("facts are served as text/turtle, application/n-quads or application/n-triples")
    media, rdf_format = FACT_FORMATS[format]
    return Response(labelling.export_facts(session_id, rdf_format), media_type=media)
