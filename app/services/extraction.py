"""From raw text to candidate facts: sentences, mentions found by the graph's names, pairs, classification."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from kgrel.app.services.graph import GraphService
from kgrel.app.services.jobs import Job, JobRunner, new_job_id
from kgrel.app.services.predictions import PredictionService
from kgrel.kg import changes, provenance
from kgrel.kg.fact_log import FactLog
from kgrel.kg.linking import BY_CONTEXT, BY_HAND, BY_SPELLING, FoundMention
from kgrel.models.relation.instances import Mention, RelationInstance, make_instance
from kgrel.models.relation.prototypes import best_relations, none_of_the_above
from kgrel.models.relation.sentences import Span, split_sentences

MAX_MENTIONS_PER_SENTENCE = 12


@dataclass
class Pair:
    """Two linked mentions of one sentence: a relation instance waiting to be classified."""

    document: int
    offset: int  # start of the sentence in its document
    sentence: str
    head: FoundMention  # offsets in the sentence
    tail: FoundMention

    def instance(self) -> RelationInstance:
        return make_instance(self.sentence, Mention(self.head.start, self.head.end, self.head.entity),
                             Mention(self.tail.start, self.tail.end, self.tail.entity))

    def reversed(self) -> Pair:
        return Pair(self.document, self.offset, self.sentence, self.tail, self.head)


@dataclass
class ExtractedFact:
    pair: Pair
    relation: str
    label: str
    score: float


@dataclass
class DocumentFacts:
    by_document: dict[str, list[ox.Quad]]  # each document's facts and their provenance, as quads
    facts: int

    @property
    def quads(self) -> list[ox.Quad]:
        return [q for quads in self.by_document.values() for q in quads]


@dataclass
class CorpusProgress:
    documents: int = 0  # done in this run
    skipped: int = 0  # done by an earlier run
    facts: int = 0

    def as_dict(self) -> dict:
        return {"documents": self.documents, "skipped": self.skipped, "facts": self.facts}


@dataclass
class LinkedText:
    """Sentences of documents with the mentions found in each."""

    sentences: list[tuple[int, Span, list[FoundMention]]] = field(default_factory=list)  # (document, ...)

    def pairs(self) -> list[Pair]:
        """Every pair of mentions naming different entities within a sentence, once, in text order
        (classification asks each pair both ways)."""
        pairs = []
        for d, sentence, found in self.sentences:
            for i, h in enumerate(found):
                for t in found[i + 1:]:
                    if h.entity is not None and h.entity == t.entity:
                        continue
                    if h.start < t.end and t.start < h.end:
                        continue
                    pairs.append(Pair(d, sentence.start, sentence.text, h, t))
        return pairs

    def ambiguous(self) -> list[dict]:
        """Names left unlinked because several entities carry them, with how many, once each."""
        return self._once_per_name(lambda m: m.ambiguous, lambda m: {"text": m.text, "entities": len(m.entities)})

    def guessed(self) -> list[dict]:
        """Names linked by spelling or by context rather than by an exact name, once each: worth a look."""
        return self._once_per_name(lambda m: m.entity is not None and m.how in (BY_SPELLING, BY_CONTEXT),
                                   lambda m: {"text": m.text, "entity": m.entity, "how": m.how, "score": m.score})

    def _once_per_name(self, wanted: Callable[[FoundMention], bool],
                       describe: Callable[[FoundMention], dict]) -> list[dict]:
        """`describe(m)` of the first mention of each name for which `wanted(m)`, in text order."""
        out: dict[str, dict] = {}
        for _, _, found in self.sentences:
            for m in found:
                if m.text not in out and wanted(m):
                    out[m.text] = describe(m)
        return list(out.values())


EXTRACT_JOB = "extract"


class ExtractionService:
    def __init__(self, graph: GraphService, predictions: PredictionService, jobs: JobRunner):
        self.jobs = jobs
        self.graph = graph
        self.predictions = predictions

    def link(self, documents: list[str], mentions: list[list[dict]] | None = None) -> LinkedText:
        """Each document's sentences with their mentions of graph entities.

        Mentions come from the graph's names (exact, then by spelling; a name several entities carry
        is resolved by the document's context when it singles one out, `kg.disambiguation`), or from
        `mentions[d]` (document offsets, each with an optional "entity") when given for document d.
        """
        linked = LinkedText()
        for d, text in enumerate(documents):
            given = mentions[d] if mentions and d < len(mentions) and mentions[d] else None
            sentences = split_sentences(text)
            if given is None:
                found = self.graph.link_sentences([s.text for s in sentences], MAX_MENTIONS_PER_SENTENCE)
            else:
                found = [[FoundMention(m["start"] - s.start, m["end"] - s.start, text[m["start"]:m["end"]],
                                       [self.graph.iri(m["entity"])] if m.get("entity") else [], how=BY_HAND)
                          for m in given if m["start"] >= s.start and m["end"] <= s.end][:MAX_MENTIONS_PER_SENTENCE]
                         for s in sentences]
            linked.sentences += [(d, s, f) for s, f in zip(sentences, found, strict=True)]
        return linked

    def find_pairs(self, documents: list[str], mentions: list[list[dict]] | None = None) -> list[Pair]:
        return self.link(documents, mentions).pairs()

    def linked_pairs(self, documents: list[str], mentions: list[list[dict]] | None = None) -> list[Pair]:
        """The pairs whose two mentions are both linked to entities: the only ones that can become facts."""
        return [p for p in self.find_pairs(documents, mentions) if p.head.entity and p.tail.entity]

    def extract(self, documents: list[str], *, mentions=None, candidates: list[str] | None = None,
                threshold: float | None = None) -> list[ExtractedFact]:
        """Candidate facts above the threshold: each pair of linked mentions is asked both ways, and each
        way gives its best relation unless that is none of the above. A relation's fact comes in one
        direction only (symmetric and inverse relations once), so (a r b) and (b r a) never both appear."""
        pairs = self.linked_pairs(documents, mentions)
        if not pairs:
            return []
        scored = self.predictions.oriented([p.instance() for p in pairs])
        forward, backward, protos = scored.forward, scored.backward, scored.prototypes
        keep = None
        if candidates is not None:
            keep = [self.predictions.relation_index(protos, c) for c in candidates]
        threshold = scored.threshold if threshold is None else threshold
        facts = []
        for probs, oriented_pairs in ((forward, pairs), (backward, [p.reversed() for p in pairs])):
            scores, relations = best_relations(probs, keep)
            facts += [ExtractedFact(pair, protos.iris[rel], protos.labels[rel], round(score, 4))
                      for pair, score, rel in zip(oriented_pairs, scores, relations, strict=True)
                      if score > 0 and not none_of_the_above(score, threshold)]
        return sorted(facts, key=lambda f: (f.pair.document, f.pair.offset, min(f.pair.head.start, f.pair.tail.start)))

    def extract_documents(self, documents: list[tuple[str, str]], *, graph: str, model: str,
                          threshold: float | None = None) -> DocumentFacts:
        """Facts of (id, text) documents as quads with their provenance (`provenance.document_fact_quads`)."""
        facts = self.extract([text for _, text in documents], threshold=threshold)
        by_document: dict[str, list[ox.Quad]] = {doc_id: [] for doc_id, _ in documents}
        for f in facts:
            p = f.pair
            doc_id = documents[p.document][0]
            by_document[doc_id] += provenance.document_fact_quads(provenance.DocumentFact(
                graph, doc_id, p.head.entity, f.relation, p.tail.entity, p.sentence, p.offset,
                (p.head.start, p.head.end), (p.tail.start, p.tail.end), f.score, model))
        return DocumentFacts(by_document, len(facts))

    def extract_corpus(self, documents: Iterable[tuple[str, str]], log: FactLog, *, graph: str, model: str,
                       threshold: float | None = None, batch_size: int = 16,
                       on_batch: Callable[[CorpusProgress], None] | None = None) -> CorpusProgress:
        """Facts of every (id, text) document into `log`, a batch at a time, skipping the documents the log
        has done already (a rerun after a crash); `on_batch` hears the progress after each batch."""
        progress = CorpusProgress()
        batch: list[tuple[str, str]] = []

        def flush() -> None:
            found = self.extract_documents(batch, graph=graph, model=model, threshold=threshold)
            log.write([doc_id for doc_id, _ in batch], found.quads)
            progress.documents += len(batch)
            progress.facts += found.facts
            batch.clear()
            if on_batch is not None:
                on_batch(progress)

        for doc_id, text in documents:
            if doc_id in log.done:
                progress.skipped += 1
                continue
            batch.append((doc_id, text))
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        return progress

    def facts_file(self, job_id: str) -> Path:
        """Where the N-Quads of extraction job `job_id` are written (in the data dir the workers share)."""
        return self.graph.settings.data_dir / "extractions" / f"{job_id}.nq"

    def start_corpus_job(self, documents: list[tuple[str, str]], *, graph: str, model: str,
                         threshold: float | None = None, ingest: bool = False, batch_size: int = 16) -> Job:
        """`kgrel extract` in the background: facts with provenance into the job's N-Quads file, progress
        after each batch, and with `ingest` the facts added to the store when all documents are done."""
        graph_iri = self.graph.iri(graph)
        job_id = new_job_id()

        def work(progress) -> dict:
            path = self.facts_file(job_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            total = len(documents)

            def report(p: CorpusProgress) -> None:
                progress({"stage": "extracting", "documents_total": total, **p.as_dict()})

            report(CorpusProgress())
            done = self.extract_corpus(documents, FactLog(path), graph=graph_iri, model=model,
                                       threshold=threshold, batch_size=batch_size, on_batch=report)
            result = {**done.as_dict(), "graph": graph_iri, "facts_url": f"/extract/jobs/{job_id}/facts",
                      "ingested": None}
            if ingest:
                progress({"stage": "ingesting", "documents_total": total, **done.as_dict()})
                result["ingested"] = self.graph.ingest_file(path).added
            return result

        return self.jobs.start(EXTRACT_JOB, work, job_id)

    def ingest_facts(self, facts: list[ExtractedFact], user: str) -> str:
        """Write extracted facts with provenance into a new named graph; returns its IRI."""
        run_id = "extract-" + uuid.uuid4().hex[:12]
        quads = provenance.session_quads(run_id, facts[0].relation if facts else "urn:kgrel:none",
                                         "extraction", provenance.now()) if facts else []
        for f in facts:
            _, fq = provenance.fact_quads(provenance.AcceptedFact(
                f.pair.head.entity, f.relation, f.pair.tail.entity, f.pair.sentence,
                (f.pair.head.start, f.pair.head.end), (f.pair.tail.start, f.pair.tail.end), f.score, user, run_id))
            quads += fq
        self.graph.store.insert(quads)
        self.graph.changed({changes.FACTS})
        return provenance.session_graph(run_id)
