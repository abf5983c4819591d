"""Wiring for the labelling loop: raw text -> candidate facts, labelling sessions, quality and exports.

Sentence splitting and scoring come from `models`, name matching, provenance and serialisation from
`kg`; this module only connects them and keeps the session files.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import pyoxigraph as ox
import torch

from app.sessions import Candidate, CandidateMention, Session, SessionStore
from kg import examples as kg_examples
from kg import provenance
from kg.errors import InvalidIdentifier
from kg.linking import FoundMention
from models.graph_evidence import gather_evidence
from models.instances import (
    InvalidInstance,
    Mention,
    RelationInstance,
    instance_from_record,
    make_instance,
    to_fewrel,
)
from models.labelling import leave_one_out, rank_for_labelling
from models.proto import fused_similarity
from models.sentences import split_sentences

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


@dataclass
class ExtractedFact:
    pair: Pair
    relation: str
    label: str
    score: float


class Labelling:
    def __init__(self, service):
        self.service = service
        self.sessions = SessionStore(service.settings.data_dir / "sessions")
        self._vectors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # candidate id -> (example, side) views
        self._lock = threading.Lock()

    # From text to candidate facts -------------------------------------------------------------

    def find_pairs(self, documents: list[str], mentions: list[list[dict]] | None = None) -> list[Pair]:
        """Every ordered pair of mentions naming different entities within a sentence.

        Mentions come from the dictionary matcher, or from `mentions[d]` (document offsets, each with
        an optional "entity") when given for document d.
        """
        index = self.service.label_index()
        pairs = []
        for d, text in enumerate(documents):
            given = mentions[d] if mentions and d < len(mentions) and mentions[d] else None
            for sentence in split_sentences(text):
                if given is not None:
                    found = [FoundMention(m["start"] - sentence.start, m["end"] - sentence.start,
                                          text[m["start"]:m["end"]],
                                          [self.service.iri(m["entity"])] if m.get("entity") else [])
                             for m in given if m["start"] >= sentence.start and m["end"] <= sentence.end]
                else:
                    found = index.find(sentence.text)
                found = found[:MAX_MENTIONS_PER_SENTENCE]
                for h in found:
                    for t in found:
                        if h is t or (h.entity is not None and h.entity == t.entity):
                            continue
                        if h.start < t.end and t.start < h.end:
                            continue
                        pairs.append(Pair(d, sentence.start, sentence.text, h, t))
        return pairs

    def scores(self, instances: list[RelationInstance], vectors=None):
        """Calibrated probabilities of every relation for each instance (with graph evidence), and the prototypes."""
        service = self.service
        protos, profile, arguments = service.scoring_state()
        if vectors is None:
            vectors = service.model.embed_instances(instances)
        evidence = None
        if service.settings.use_graph and len(protos):
            evidence = gather_evidence(service.model, service.graph_contexts(instances), protos.description, profile,
                                       arguments)
        probs = service.classifier.probabilities(vectors[0], vectors[1], protos, evidence=evidence)
        return probs, protos

    def extract(self, documents: list[str], *, mentions=None, candidates: list[str] | None = None,
                threshold: float | None = None) -> list[ExtractedFact]:
        """Candidate facts above the threshold; pairs whose best answer is none of the above are dropped."""
        pairs = [p for p in self.find_pairs(documents, mentions) if p.head.entity and p.tail.entity]
        if not pairs:
            return []
        probs, protos = self.scores([p.instance() for p in pairs])
        if candidates is not None:
            keep = torch.tensor([self._relation_index(protos, c) for c in candidates], dtype=torch.long)
            mask = torch.full_like(probs, -1.0)
            mask[:, keep] = probs[:, keep]
            probs = mask
        threshold = self.service.model.config.nota_threshold if threshold is None else threshold
        best = probs.max(1)
        facts = []
        for pair, score, rel in zip(pairs, best.values.tolist(), best.indices.tolist(), strict=True):
            if score >= threshold:
                facts.append(ExtractedFact(pair, protos.iris[rel], protos.labels[rel], round(score, 4)))
        return facts

    def _relation_index(self, protos, identifier: str) -> int:
        i = protos.index(self.service.iri(identifier))
        if i is None:
            raise InvalidIdentifier(f"unknown relation {identifier!r}; GET /relations lists them")
        return i

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
        self.service.store.insert(quads)
        self.service.changed()
        return provenance.session_graph(run_id)

    # Sessions ---------------------------------------------------------------------------------

    def create_session(self, relation: str, name: str | None, user: str) -> Session:
        info, _ = self.service.relation(relation)
        session = Session(id=self.sessions.new_id(), name=name or f"labelling {info.label}", relation=info.iri,
                          user=user, created=provenance.now())
        self.service.store.insert(provenance.session_quads(session.id, info.iri, session.name, session.created))
        self.sessions.save(session)
        return session

    def add_texts(self, session_id: str, documents: list[str], mentions=None) -> dict:
        session = self.sessions.get(session_id)
        pairs = self.find_pairs(documents, mentions)
        seen = {(c.sentence, c.head.start, c.head.end, c.tail.start, c.tail.end) for c in session.candidates}
        added = []
        for p in pairs:
            key = (p.sentence, p.head.start, p.head.end, p.tail.start, p.tail.end)
            if key in seen:
                continue
            seen.add(key)
            added.append(Candidate(
                id=uuid.uuid4().hex[:12], sentence=p.sentence, document=session.documents + p.document, offset=p.offset,
                head=CandidateMention(p.head.start, p.head.end, p.head.text, p.head.entity),
                tail=CandidateMention(p.tail.start, p.tail.end, p.tail.text, p.tail.entity)))
        session.candidates.extend(added)
        session.documents += len(documents)
        self.sessions.save(session)
        return {"documents": len(documents), "sentences": len({(p.document, p.offset) for p in pairs}),
                "added": len(added), "pending": session.counts()["pending"]}

    def _candidate_vectors(self, candidates: list[Candidate]) -> tuple[torch.Tensor, torch.Tensor]:
        missing = [c for c in candidates if c.id not in self._vectors]
        if missing:
            ex, side = self.service.model.embed_instances([candidate_instance(c) for c in missing])
            with self._lock:
                for c, e, s in zip(missing, ex, side, strict=True):
                    self._vectors[c.id] = (e, s)
        return (torch.stack([self._vectors[c.id][0] for c in candidates]),
                torch.stack([self._vectors[c.id][1] for c in candidates]))

    def suggestions(self, session_id: str, n: int = 10, diversity: float = 0.5) -> list[tuple[Candidate, float]]:
        """Pending candidates to label next: the model's probability of the session's relation near the
        decision boundary, spread over the text; with the current examples (accepted ones included)."""
        session = self.sessions.get(session_id)
        pending = [c for c in session.candidates if c.status == "pending"]
        if not pending:
            return []
        vectors = self._candidate_vectors(pending)
        probs, protos = self.scores([candidate_instance(c) for c in pending], vectors)
        p = probs[:, self._relation_index(protos, session.relation)]
        order = rank_for_labelling(p, vectors[0], n, diversity)
        return [(pending[i], round(float(p[i]), 4)) for i in order]

    def decide(self, session_id: str, candidate_id: str, decision: str, relation: str | None = None,
               user: str | None = None, score: float | None = None) -> Candidate:
        """accept (the session's relation), reject (not it), or correct (another relation, or none when null).

        An accepted or corrected-to-a-relation sentence becomes an example of that relation at once, and
        its fact goes into the session's graph with provenance when both mentions are linked.
        """
        session = self.sessions.get(session_id)
        candidate = session.candidate(candidate_id)
        if candidate.status != "pending":
            raise InvalidInstance(f"suggestion {candidate_id} was already {candidate.status}")
        if decision == "accept":
            target = session.relation
        elif decision == "reject":
            target = None
        elif decision == "correct":
            target = self.service.relation(relation)[0].iri if relation else None
        else:
            raise InvalidInstance(f"unknown decision {decision!r}: use accept, reject or correct")
        user = user or session.user
        if target is not None:
            [record] = self.service.add_examples(target, [candidate_instance(candidate)],
                                                  source=provenance.session_node(session.id))
            candidate.example = record.id
            if candidate.head.entity and candidate.tail.entity:
                candidate.statement = provenance.add_fact(self.service.store, provenance.AcceptedFact(
                    candidate.head.entity, target, candidate.tail.entity, candidate.sentence,
                    (candidate.head.start, candidate.head.end), (candidate.tail.start, candidate.tail.end),
                    score, user, session.id))
        candidate.status = {"accept": "accepted", "reject": "rejected", "correct": "corrected"}[decision]
        candidate.relation, candidate.user, candidate.decided = target, user, provenance.now()
        self.sessions.save(session)
        return candidate

    def export_facts(self, session_id: str, rdf_format: ox.RdfFormat) -> bytes:
        self.sessions.get(session_id)  # 404 for an unknown session
        graph = provenance.session_graph(session_id)
        triples = self.service.store.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
        if rdf_format == ox.RdfFormat.N_QUADS:
            quads = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(graph)) for t in triples]
            return ox.serialize(quads, format=rdf_format)
        return ox.serialize(triples, format=rdf_format, prefixes=self.service.prefixes.as_dict())

    # Quality and export of examples -----------------------------------------------------------

    def quality(self, identifier: str) -> dict:
        """Leave-one-out accuracy of the relation's examples, and how it moved as they were added."""
        info, _ = self.service.relation(identifier)
        records = kg_examples.list_examples(self.service.store, info.iri)
        if not records:
            return {"relation": info.iri, "examples": 0, "leave_one_out_accuracy": None, "curve": [],
                    "confused_with": []}
        protos = self.service.prototypes()
        r = protos.index(info.iri)
        model = self.service.model
        example_v, side_v = model.embed_instances([instance_from_record(rec) for rec in records])
        base = self.service.classifier.similarity(example_v, side_v, protos)
        beta = model.config.side_weight * protos.has_side[r].float()

        def relation_score(i: int, others: list[int]) -> float:
            total = example_v[others].sum(0) if others else torch.zeros(example_v.shape[1])
            return float(fused_similarity(example_v[i:i + 1], side_v[i:i + 1], total[None], protos.description[r:r + 1],
                                          torch.tensor([len(others)]), beta)[0, 0])

        curve, confusions = leave_one_out(base, r, relation_score)
        confused = [{"relation": protos.iris[o], "curie": self.service.curie(protos.iris[o]),
                     "label": protos.labels[o], "examples": count} for o, count in confusions.items()]
        return {"relation": info.iri, "examples": len(records),
                "leave_one_out_accuracy": curve[-1]["accuracy"], "curve": curve,
                "candidates": len(protos), "confused_with": confused}

    def export_examples(self, identifier: str) -> dict:
        """The relation's examples in FewRel JSON: {relation: [{tokens, h, t}]}."""
        info, _ = self.service.relation(identifier)
        records = kg_examples.list_examples(self.service.store, info.iri)
        return {self.service.curie(info.iri): [to_fewrel(instance_from_record(rec)) for rec in records]}


def candidate_instance(c: Candidate) -> RelationInstance:
    return make_instance(c.sentence, Mention(c.head.start, c.head.end, c.head.entity),
                         Mention(c.tail.start, c.tail.end, c.tail.entity))
