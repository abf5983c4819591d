"""From raw text to candidate facts, optionally written into the graph with provenance."""

from fastapi import APIRouter, Query

from kgrel.app.deps import ServiceDep
from kgrel.app.schemas import ErrorOut
from kgrel.app.schemas.labelling import ExtractIn, ExtractOut, FactOut, SpanOut

router = APIRouter(tags=["extract"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}}


def span_out(m, offset: int = 0) -> SpanOut:
    return SpanOut(start=m.start + offset, end=m.end + offset, text=m.text, entity=m.entity)


@router.post("/extract", response_model=ExtractOut, responses=ERRORS)
def extract(body: ExtractIn, service: ServiceDep,
            ingest: bool = Query(False, description="Write the facts into the graph, with provenance, in a new "
                                                    "named graph")) -> ExtractOut:
    """Find mentions of graph entities, pair them within sentences and classify each pair.

    Returns candidate facts (head, relation, tail, score, sentence, offsets); none-of-the-above pairs are dropped.
    """
    facts = service.extraction.extract(body.all_documents(), mentions=body.mention_dicts(),
                                       candidates=body.candidates, threshold=body.threshold)
    graph = service.extraction.ingest_facts(facts, body.user) if ingest and facts else None
    labels = service.graph.labels(list({iri for f in facts for iri in (f.pair.head.entity, f.pair.tail.entity)}))
    out = []
    for f in facts:
        p = f.pair
        out.append(FactOut(head=p.head.entity, head_label=labels.get(p.head.entity), relation=f.relation,
                           curie=service.graph.curie(f.relation), label=f.label, tail=p.tail.entity,
                           tail_label=labels.get(p.tail.entity), score=f.score, document=p.document,
                           sentence=p.sentence, sentence_start=p.offset, head_span=span_out(p.head, p.offset),
                           tail_span=span_out(p.tail, p.offset)))
    return ExtractOut(facts=out, ingested=graph is not None, graph=graph)
