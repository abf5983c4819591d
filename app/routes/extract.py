"""From raw text to candidate facts, optionally written into the graph with provenance."""

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse

from kgrel.app.deps import ExtractionDep, GraphDep, JobsDep, ModelDep
from kgrel.app.schemas import ErrorOut
from kgrel.app.schemas.jobs import ExtractJobIn, JobOut, JobStarted
from kgrel.app.schemas.labelling import ExtractIn, ExtractOut, FactOut, SpanOut, SupportOut
from kgrel.app.services.extraction import EXTRACT_JOB
from kgrel.app.services.jobs import JobBusy
from kgrel.kg.errors import NotFound

router = APIRouter(tags=["extract"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}}


def span_out(m, offset: int = 0) -> SpanOut:
    linked_by, link_score = m.link
    return SpanOut(start=m.start + offset, end=m.end + offset, text=m.text, entity=m.entity, linked_by=linked_by,
                   link_score=link_score)


@router.post("/extract", response_model=ExtractOut, responses=ERRORS)
def extract(body: ExtractIn, extraction: ExtractionDep, graph: GraphDep,
            ingest: bool = Query(False, description="Write the facts into the graph, with provenance, in a new "
                                                    "named graph")) -> ExtractOut:
    """Find the graph's entities in each document, read every pair of entities mentioned near each other and
    return each fact (head, relation, tail) above the threshold once, with the passages that support it.

    A pair may hold several relations; each comes in one direction. Pairs under the threshold are dropped;
    when no fact is left, `reason` says why.
    """
    found = extraction.extract_with_reason(body.all_documents(), mentions=body.mention_dicts(),
                                           candidates=body.candidates, threshold=body.threshold)
    facts = found.facts
    written = extraction.ingest_facts(facts, body.user) if ingest and facts else None
    labels = graph.labels(list({iri for f in facts for iri in (f.head, f.tail)}))
    out = []
    for f in facts:
        support = [SupportOut(sentence=s.text, sentence_start=s.start, head_span=span_out(s.head, s.start),
                              tail_span=span_out(s.tail, s.start)) for s in f.support]
        first = support[0]
        out.append(FactOut(head=f.head, head_label=labels.get(f.head), relation=f.relation,
                           curie=graph.curie(f.relation), label=f.label, tail=f.tail,
                           tail_label=labels.get(f.tail), score=f.score, document=f.document,
                           sentence=first.sentence, sentence_start=first.sentence_start, head_span=first.head_span,
                           tail_span=first.tail_span, support=support))
    return ExtractOut(facts=out, ingested=written is not None, graph=written, reason=found.reason)


@router.post("/extract/jobs", status_code=status.HTTP_202_ACCEPTED, response_model=JobStarted, responses=ERRORS)
def start_extract_job(body: ExtractJobIn, extraction: ExtractionDep, model: ModelDep) -> JobStarted:
    """`kgrel extract` in the background: facts of every document, with provenance (document id, offsets,
    model, score), written as N-Quads and, with `ingest`, added to the store at the end. One extraction
    runs at a time (409 while one does, on any worker)."""
    job = extraction.start_corpus_job([(d.id, d.text) for d in body.documents], graph=body.graph,
                                      model=model.active, threshold=body.threshold, ingest=body.ingest)
    return JobStarted(job=job.id, status=job.status, status_url=f"/extract/jobs/{job.id}")


@router.get("/extract/jobs/{job_id}", response_model=JobOut, responses=ERRORS)
def extract_job_status(job_id: str, jobs: JobsDep) -> JobOut:
    """Status, progress (documents done of documents_total, facts so far) and, when done, the result."""
    return JobOut(**jobs.of_kind(job_id, EXTRACT_JOB, "extraction").as_dict())


@router.get("/extract/jobs/{job_id}/facts", responses={**ERRORS, 200: {"content": {"application/n-quads": {}}}},
            response_class=FileResponse)
def extract_job_facts(job_id: str, jobs: JobsDep, extraction: ExtractionDep) -> FileResponse:
    """The facts a finished extraction job found, as N-Quads with their provenance."""
    job = jobs.of_kind(job_id, EXTRACT_JOB, "extraction")
    if job.status != "done":
        raise JobBusy(f"extraction job {job_id} is {job.status}; its facts are served once it is done"
                      + (f" ({job.error})" if job.error else ""))
    path = extraction.facts_file(job_id)
    if not path.exists():
        raise NotFound(f"the facts of job {job_id} are not in this worker's data dir ({path.name})")
    return FileResponse(path, media_type="application/n-quads", filename=f"{job_id}.nq")
