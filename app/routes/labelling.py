"""From raw text to reviewed facts: /extract, labelling sessions, and the exports."""

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.deps import get_service
from app.schemas import ErrorOut
from app.service import KgrelService
from kg.sparql import NotAcceptable, parse_accept

router = APIRouter(tags=["labelling"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}}


class MentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    entity: str | None = Field(None, description="IRI or CURIE of the entity the mention names")


class TextsIn(BaseModel):
    """One `text` or several `documents`; `mentions` (per document, document offsets) replaces name matching."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    documents: list[str] | None = None
    mentions: list[list[MentionIn]] | None = None

    @model_validator(mode="after")
    def one_form(self):
        if (self.text is None) == (self.documents is None):
            raise ValueError("give either text or documents")
        docs = self.all_documents()
        if not docs or not any(d.strip() for d in docs):
            raise ValueError("no text given: the text or documents are empty")
        if self.mentions is not None:
            if len(self.mentions) != len(docs):
                raise ValueError(f"mentions must have one list per document ({len(docs)})")
            for d, (doc, ms) in enumerate(zip(docs, self.mentions, strict=True)):
                for m in ms:
                    if m.end > len(doc) or m.start >= m.end:
                        raise ValueError(f"document {d}: mention [{m.start}, {m.end}) is not inside its text")
        return self

    def all_documents(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.documents or [])

    def mention_dicts(self):
        return None if self.mentions is None else [[m.model_dump() for m in ms] for ms in self.mentions]


class ExtractIn(TextsIn):
    candidates: list[str] | None = Field(None, description="Relations to consider (all when absent)")
    threshold: float | None = Field(None, ge=0, le=1, description="Keep facts scoring at least this (default: "
                                                                 "the model's none-of-the-above threshold)")
    user: str = Field("api", description="Recorded as the agent of ingested facts")


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relation: str = Field(description="IRI or CURIE of the relation to label (register it first with POST /relations)")
    name: str | None = None
    user: str = "anonymous"


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str = Field(pattern="^(accept|reject|correct)$")
    relation: str | None = Field(None, description="With correct: the right relation, or null for none of them")
    user: str | None = None
    score: float | None = Field(None, ge=0, le=1, description="The score the suggestion was shown with")


def _mention(m, offset: int = 0) -> dict:
    return {"start": m.start + offset, "end": m.end + offset, "text": m.text, "entity": m.entity}


def _candidate(c) -> dict:
    return {"id": c.id, "sentence": c.sentence, "document": c.document, "offset": c.offset,
            "head": _mention(c.head), "tail": _mention(c.tail), "status": c.status, "relation": c.relation,
            "example": c.example, "statement": c.statement, "user": c.user, "decided": c.decided}


def _session(service: KgrelService, s) -> dict:
    info, examples = service.relation(s.relation)
    return {"id": s.id, "name": s.name, "relation": s.relation, "curie": service.curie(s.relation),
            "label": info.label, "user": s.user, "created": s.created, "graph": f"urn:kgrel:graph:session:{s.id}",
            "counts": s.counts(), "examples": examples}


@router.post("/extract", responses=ERRORS)
def extract(body: ExtractIn, ingest: bool = Query(False, description="Write the facts into the graph, with "
                                                                      "provenance, in a new named graph"),
            service: KgrelService = Depends(get_service)) -> dict:
    """Find mentions of graph entities, pair them within sentences and classify each pair.

    Returns candidate facts (head, relation, tail, score, sentence, offsets); none-of-the-above pairs are dropped.
    """
    docs = body.all_documents()
    facts = service.labelling.extract(docs, mentions=body.mention_dicts(), candidates=body.candidates,
                                      threshold=body.threshold)
    graph = service.labelling.ingest_facts(facts, body.user) if ingest and facts else None
    labels = service.labels(list({iri for f in facts for iri in (f.pair.head.entity, f.pair.tail.entity)}))
    out = []
    for f in facts:
        p = f.pair
        out.append({"head": p.head.entity, "head_label": labels.get(p.head.entity), "relation": f.relation,
                    "curie": service.curie(f.relation), "label": f.label, "tail": p.tail.entity,
                    "tail_label": labels.get(p.tail.entity), "score": f.score, "document": p.document,
                    "sentence": p.sentence, "sentence_start": p.offset,
                    "head_span": _mention(p.head, p.offset), "tail_span": _mention(p.tail, p.offset)})
    return {"facts": out, "ingested": graph is not None, "graph": graph}


@router.post("/sessions", status_code=status.HTTP_201_CREATED, responses=ERRORS)
def create_session(body: SessionIn, service: KgrelService = Depends(get_service)) -> dict:
    """Open a labelling session for a relation; its facts go into the graph urn:kgrel:graph:session:{id}."""
    return _session(service, service.labelling.create_session(body.relation, body.name, body.user))


@router.get("/sessions")
def list_sessions(service: KgrelService = Depends(get_service)) -> list[dict]:
    return [_session(service, s) for s in service.labelling.sessions.all()]


@router.get("/sessions/{session_id}", responses=ERRORS)
def get_session(session_id: str, service: KgrelService = Depends(get_service)) -> dict:
    return _session(service, service.labelling.sessions.get(session_id))


@router.post("/sessions/{session_id}/texts", responses=ERRORS)
def add_texts(session_id: str, body: TextsIn, service: KgrelService = Depends(get_service)) -> dict:
    """Add sentences to the session's pool: every pair of linked mentions becomes a candidate."""
    return service.labelling.add_texts(session_id, body.all_documents(), body.mention_dicts())


@router.get("/sessions/{session_id}/suggestions", responses=ERRORS)
def suggestions(session_id: str, n: int = Query(10, ge=1, le=200),
                diversity: float = Query(0.5, ge=0, le=1),
                service: KgrelService = Depends(get_service)) -> list[dict]:
    """Candidates to review next, most informative first (uncertain, and spread over the text)."""
    return [{**_candidate(c), "score": score}
            for c, score in service.labelling.suggestions(session_id, n, diversity)]


@router.post("/sessions/{session_id}/suggestions/{candidate_id}", responses=ERRORS)
def decide(session_id: str, candidate_id: str, body: DecisionIn, service: KgrelService = Depends(get_service)) -> dict:
    """Accept, reject or correct a suggestion; accepted sentences become examples at once."""
    return _candidate(service.labelling.decide(session_id, candidate_id, body.decision, body.relation, body.user,
                                               body.score))


FACT_FORMATS = {"turtle": ("text/turtle", "TURTLE"), "nquads": ("application/n-quads", "N_QUADS"),
                "ntriples": ("application/n-triples", "N_TRIPLES")}


@router.get("/sessions/{session_id}/facts", responses=ERRORS)
def session_facts(session_id: str, request: Request,
                  format: str | None = Query(None, pattern="^(turtle|nquads|ntriples)$"),
                  service: KgrelService = Depends(get_service)) -> Response:
    """The session's facts and their provenance, as Turtle or N-Quads (by ?format= or Accept)."""
    import pyoxigraph as ox

    if format is None:
        by_media = {media: name for name, (media, _) in FACT_FORMATS.items()}
        accepted = parse_accept(request.headers.get("accept"))
        format = next((by_media[m] for m in accepted if m in by_media), "turtle" if "*/*" in accepted or
                      "text/*" in accepted else None)
        if format is None:
            raise NotAcceptable("facts are served as text/turtle, application/n-quads or application/n-triples")
    media, name = FACT_FORMATS[format]
    return Response(service.labelling.export_facts(session_id, getattr(ox.RdfFormat, name)), media_type=media)


@router.get("/relations/{relation_id:path}/quality", responses=ERRORS)
def quality(relation_id: str, service: KgrelService = Depends(get_service)) -> dict:
    """Leave-one-out accuracy of the relation's examples, and the learning curve as they were added."""
    return service.labelling.quality(relation_id)
