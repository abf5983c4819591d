"""From raw text to facts: sentences, mentions of the graph's entities, each document read whole.

A document's mentions are grouped by the entity they name (given with the text, linked from the graph's
names, or a later short form of a linked name: `kg.coreference`), its pairs of entities mentioned within
`pair_window` sentences of each other are read at once (`PredictionService.read_documents`), and each
(head, relation, tail) above the threshold is one fact, whatever the number of sentences that state it:
those sentences are its support.
"""

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
from kgrel.kg.coreference import NamedSpan, refer_back
from kgrel.kg.fact_log import FactLog
from kgrel.kg.linking import BY_CONTEXT, BY_HAND, BY_REFERENCE, BY_SPELLING, FoundMention
from kgrel.models.relation.documents import Document, DocumentEntity
from kgrel.models.relation.instances import Mention, RelationInstance, make_instance
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
class Support:
    """Where a fact is stated: a sentence that mentions both entities or, when none does, the shortest stretch
    of sentences that mentions each. `start` is its offset in the document; the mentions' are in `text`."""

    text: str
    start: int
    head: FoundMention
    tail: FoundMention


@dataclass
class ExtractedFact:
    """One fact (head entity, relation, tail entity) of one document, with every passage that supports it."""

    document: int
    head: str
    relation: str
    label: str
    tail: str
    score: float
    support: list[Support]


@dataclass
class Extraction:
    facts: list[ExtractedFact]
    reason: str | None = None  # why there is no fact, when there is none


@dataclass
class ReadDocument:
    """A document as the model reads it, with the mentions behind each of its entities."""

    index: int
    document: Document
    mentions: list[list[FoundMention]]  # per entity, its mentions with document offsets
    pairs: list[tuple[int, int]]


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

    def read(self, documents: list[str], mentions: list[list[dict]] | None = None) -> list[ReadDocument]:
        """Each document's entities (mentions grouped by the entity they name) and the pairs to read: entities
        mentioned within `pair_window` sentences of each other. Unlinked mentions name no entity and drop out;
        with mentions found from the graph's names, later short forms of those names are mentions too."""
        linked = self.link(documents, mentions)
        by_document: dict[int, list[FoundMention]] = {d: [] for d in range(len(documents))}
        sentences: dict[int, list[Span]] = {d: [] for d in range(len(documents))}
        for d, sentence, found in linked.sentences:
            sentences[d].append(sentence)
            by_document[d] += [_shifted(m, sentence.start) for m in found if m.entity]
        window = self.graph.settings.pair_window
        out = []
        for d, text in enumerate(documents):
            found = by_document[d]
            given = bool(mentions and d < len(mentions) and mentions[d])
            if found and not given:
                named = [NamedSpan(m.start, m.end, m.text, m.entity) for m in found]
                found += [FoundMention(n.start, n.end, n.text, [n.entity], how=BY_REFERENCE)
                          for n in refer_back(text, named)]
            entities: dict[str, list[FoundMention]] = {}
            for m in sorted(found, key=lambda m: m.start):
                entities.setdefault(m.entity, []).append(m)
            document = Document(text, [DocumentEntity(tuple((m.start, m.end) for m in ms), iri)
                                       for iri, ms in entities.items()],
                                sentences[d] or [Span(0, len(text), text)])
            near = document.entity_sentences()
            pairs = [(a, b) for a in range(len(near)) for b in range(a + 1, len(near))
                     if min(abs(x - y) for x in near[a] for y in near[b]) <= window]
            out.append(ReadDocument(d, document, list(entities.values()), pairs))
        return out

    def extract(self, documents: list[str], *, mentions=None, candidates: list[str] | None = None,
                threshold: float | None = None) -> list[ExtractedFact]:
        """Facts above the threshold, one per (head entity, relation, tail entity) and document: each pair of
        entities is read both ways and gives every relation that holds, each in one direction (symmetric and
        inverse relations once), with the passages that support it."""
        return self.extract_with_reason(documents, mentions=mentions, candidates=candidates,
                                        threshold=threshold).facts

    def extract_with_reason(self, documents: list[str], *, mentions=None, candidates: list[str] | None = None,
                            threshold: float | None = None) -> Extraction:
        """`extract`, and why nothing was found when nothing was."""
        all_read = self.read(documents, mentions)
        read = [r for r in all_read if r.pairs]
        if not read:
            if not any(r.document.entities for r in all_read):
                return Extraction([], "no mention of a graph entity was found (or given with an entity): add the "
                                      "entities to the graph, or mark the mentions by hand")
            return Extraction([], f"no two entities are mentioned within {self.graph.settings.pair_window} "
                                  "sentences of each other, so there is no pair to read")
        scored = self.predictions.read_documents([r.document for r in read], [r.pairs for r in read])
        protos = scored[0].prototypes
        keep = None if candidates is None else {self.predictions.relation_index(protos, c) for c in candidates}
        facts = []
        for r, scores in zip(read, scored, strict=True):
            bar = scores.threshold if threshold is None else threshold
            for probs, reverse in ((scores.forward, False), (scores.backward, True)):
                for i, j in ((probs >= bar) & (probs > 0)).nonzero().tolist():
                    if keep is not None and j not in keep:
                        continue
                    a, b = r.pairs[i]
                    h, t = (b, a) if reverse else (a, b)
                    facts.append(ExtractedFact(r.index, r.document.entities[h].iri, protos.iris[j], protos.labels[j],
                                               r.document.entities[t].iri, round(float(probs[i, j]), 4),
                                               support(r, h, t)))
        facts.sort(key=lambda f: (f.document, f.support[0].start, -f.score))
        reason = None
        if not facts:
            pairs = sum(len(r.pairs) for r in read)
            reason = (f"no pair of entities scored at or above the threshold ({pairs} pairs read)"
                      + ("" if threshold is not None else "; pass a lower threshold to see weaker facts"))
        return Extraction(facts, reason)

    def extract_documents(self, documents: list[tuple[str, str]], *, graph: str, model: str,
                          threshold: float | None = None) -> DocumentFacts:
        """Facts of (id, text) documents as quads with their provenance (`provenance.document_fact_quads`)."""
        facts = self.extract([text for _, text in documents], threshold=threshold)
        by_document: dict[str, list[ox.Quad]] = {doc_id: [] for doc_id, _ in documents}
        for f in facts:
            doc_id = documents[f.document][0]
            by_document[doc_id] += provenance.document_fact_quads(provenance.DocumentFact(
                graph, doc_id, f.head, f.relation, f.tail,
                [provenance.Passage(s.text, s.start, (s.head.start, s.head.end), (s.tail.start, s.tail.end))
                 for s in f.support], f.score, model))
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
            first = f.support[0]
            _, fq = provenance.fact_quads(provenance.AcceptedFact(
                f.head, f.relation, f.tail, first.text, (first.head.start, first.head.end),
                (first.tail.start, first.tail.end), f.score, user, run_id))
            quads += fq
        self.graph.store.insert(quads)
        self.graph.changed({changes.FACTS})
        return provenance.session_graph(run_id)


def _shifted(m: FoundMention, offset: int) -> FoundMention:
    """The mention with document offsets (found ones are in sentence offsets)."""
    return FoundMention(m.start + offset, m.end + offset, m.text, m.entities, m.how, m.score, m.chosen)


def support(read: ReadDocument, head: int, tail: int) -> list[Support]:
    """The passages stating (head, tail): every sentence mentioning both (their first mentions there), else
    the shortest stretch of sentences from a mention of one to a mention of the other. When an entity is
    named in none of them but by a short form ("Schneider"), the first passage reaches back to where it was
    named in full, so that a reader sees who is meant."""
    doc = read.document
    sentence_of = {id(m): doc.sentence_of(m.start) for ms in read.mentions for m in ms}
    found = []
    for s in range(len(doc.sentences)):
        h = next((m for m in read.mentions[head] if sentence_of[id(m)] == s), None)
        t = next((m for m in read.mentions[tail] if sentence_of[id(m)] == s), None)
        if h is not None and t is not None:
            found.append((h, t))
    if not found:
        found = [min(((h, t) for h in read.mentions[head] for t in read.mentions[tail]),
                     key=lambda ht: (abs(sentence_of[id(ht[0])] - sentence_of[id(ht[1])]), ht[0].start))]
    for side, entity in ((0, head), (1, tail)):
        if all(pair[side].how == BY_REFERENCE for pair in found):
            first = found[0][side]
            full = next((m for m in read.mentions[entity] if m.how != BY_REFERENCE and m.start < first.start), None)
            if full is not None:
                found[0] = (full, found[0][1]) if side == 0 else (found[0][0], full)
    out = []
    for h, t in found:
        first, last = sorted((sentence_of[id(h)], sentence_of[id(t)]))
        start, end = doc.sentences[first].start, doc.sentences[last].end
        out.append(Support(doc.text[start:end], start, _shifted(h, -start), _shifted(t, -start)))
    return out
