"""Labelling sessions: a pool of candidate pairs, the most informative shown first, decisions that turn
into examples and into facts with provenance; plus example quality and exports.

Scoring and ranking come from `models`, provenance and serialisation from `kg`; this module keeps
the session files and connects the two.
"""

from __future__ import annotations

import uuid

import pyoxigraph as ox

from kgrel.app.services.extraction import ExtractionService
from kgrel.app.services.graph import GraphService
from kgrel.app.services.predictions import PredictionService
from kgrel.app.services.session_store import Candidate, CandidateMention, Session, SessionStore
from kgrel.kg import examples as kg_examples
from kgrel.kg import provenance
from kgrel.models.relation.active_learning import rank_for_labelling
from kgrel.models.relation.instances import (
    InvalidInstance,
    Mention,
    RelationInstance,
    instance_from_record,
    make_instance,
    to_fewrel,
)
from kgrel.models.relation.quality import example_quality


class LabellingService:
    def __init__(self, graph: GraphService, predictions: PredictionService, extraction: ExtractionService):
        self.graph = graph
        self.predictions = predictions
        self.extraction = extraction
        self.sessions = SessionStore(graph.settings.data_dir / "sessions")

    def create_session(self, relation: str, name: str | None, user: str) -> Session:
        info, _ = self.graph.relation(relation)
        session = Session(id=self.sessions.new_id(), name=name or f"labelling {info.label}", relation=info.iri,
                          user=user, created=provenance.now())
        self.graph.store.insert(provenance.session_quads(session.id, info.iri, session.name, session.created))
        self.sessions.save(session)
        return session

    def add_texts(self, session_id: str, documents: list[str], mentions=None) -> dict:
        session = self.sessions.get(session_id)
        pairs = self.extraction.find_pairs(documents, mentions)
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

    def suggestions(self, session_id: str, n: int = 10, diversity: float = 0.5) -> list[tuple[Candidate, float]]:
        """Pending candidates to label next: the model's probability of the session's relation near the
        decision boundary, spread over the text; with the current examples (accepted ones included).

        Each pair is shown in the direction the model finds the relation in (head and tail swapped
        when it reads the fact the other way round), so one pair is never offered both ways."""
        session = self.sessions.get(session_id)
        pending = [c for c in session.candidates if c.status == "pending"]
        if not pending:
            return []
        instances = [candidate_instance(c) for c in pending]
        forward, backward, protos = self.predictions.oriented(instances, keys=[view_key(c) for c in pending])
        r = self.predictions.relation_index(protos, session.relation)
        swapped = backward[:, r] > forward[:, r]
        for i in swapped.nonzero().flatten().tolist():
            pending[i].head, pending[i].tail = pending[i].tail, pending[i].head
            instances[i] = candidate_instance(pending[i])
        if bool(swapped.any()):
            self.sessions.save(session)
        p = forward[:, r].maximum(backward[:, r])
        example_views, _ = self.predictions.views.views([view_key(c) for c in pending], instances)
        order = rank_for_labelling(p, example_views, n, diversity)
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
            target = self.graph.relation(relation)[0].iri if relation else None
        else:
            raise InvalidInstance(f"unknown decision {decision!r}: use accept, reject or correct")
        user = user or session.user
        if target is not None:
            [record] = self.graph.add_examples(target, [candidate_instance(candidate)],
                                               source=provenance.session_node(session.id))
            candidate.example = record.id
            if candidate.head.entity and candidate.tail.entity:
                candidate.statement = provenance.add_fact(self.graph.store, provenance.AcceptedFact(
                    candidate.head.entity, target, candidate.tail.entity, candidate.sentence,
                    (candidate.head.start, candidate.head.end), (candidate.tail.start, candidate.tail.end),
                    score, user, session.id))
        candidate.status = {"accept": "accepted", "reject": "rejected", "correct": "corrected"}[decision]
        candidate.relation, candidate.user, candidate.decided = target, user, provenance.now()
        self.sessions.save(session)
        return candidate

    def export_facts(self, session_id: str, rdf_format: ox.RdfFormat) -> bytes:
        self.sessions.get(session_id)  # 404 for an unknown session
        triples = provenance.session_triples(self.graph.store, session_id)
        if rdf_format == ox.RdfFormat.N_QUADS:
            graph = ox.NamedNode(provenance.session_graph(session_id))
            return ox.serialize([ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples], format=rdf_format)
        return ox.serialize(triples, format=rdf_format, prefixes=self.graph.prefixes.as_dict())

    def quality(self, identifier: str) -> dict:
        """Leave-one-out accuracy of the relation's examples, and how it moved as they were added."""
        info, _ = self.graph.relation(identifier)
        records = kg_examples.list_examples(self.graph.store, info.iri)
        if not records:
            return {"relation": info.iri, "examples": 0, "leave_one_out_accuracy": None, "curve": [],
                    "confused_with": []}
        protos = self.predictions.prototypes()
        r = protos.index(info.iri)
        quality = example_quality(self.predictions.classifier.classifier, protos, r,
                                  [instance_from_record(rec) for rec in records])
        confused = [{"relation": protos.iris[o], "curie": self.graph.curie(protos.iris[o]),
                     "label": protos.labels[o], "examples": count} for o, count in quality.confusions.items()]
        return {"relation": info.iri, "examples": len(records),
                "leave_one_out_accuracy": quality.curve[-1]["accuracy"], "curve": quality.curve,
                "candidates": len(protos), "confused_with": confused}

    def export_examples(self, identifier: str) -> dict:
        """The relation's examples in FewRel JSON: {relation: [{tokens, h, t}]}."""
        info, _ = self.graph.relation(identifier)
        records = kg_examples.list_examples(self.graph.store, info.iri)
        return {self.graph.curie(info.iri): [to_fewrel(instance_from_record(rec)) for rec in records]}


def view_key(c: Candidate) -> str:
    """The candidate in its current direction (head and tail may be swapped), for the view cache."""
    return f"{c.id}@{c.head.start}:{c.tail.start}"


def candidate_instance(c: Candidate) -> RelationInstance:
    return make_instance(c.sentence, Mention(c.head.start, c.head.end, c.head.entity),
                         Mention(c.tail.start, c.tail.end, c.tail.entity))
