"""Labelling sessions: a pool of candidate pairs, the most informative shown first, decisions that turn
into examples and into facts with provenance; plus example quality and exports.

Scoring and ranking come from `models`, provenance and serialisation from `kg`; this module keeps
the session files and connects the two.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass

import pyoxigraph as ox

from kgrel.app.services.extraction import ExtractionService
from kgrel.app.services.graph import GraphService, example_record
from kgrel.app.services.predictions import PredictionService
from kgrel.app.services.session_store import Candidate, CandidateMention, Session, SessionStore, Support
from kgrel.kg import changes, provenance
from kgrel.kg import examples as kg_examples
from kgrel.models.relation.active_learning import rank_for_labelling
from kgrel.models.relation.agreement import cohens_kappa
from kgrel.models.relation.instances import (
    InvalidInstance,
    Mention,
    RelationInstance,
    instance_from_record,
    make_instance,
    to_fewrel,
)
from kgrel.models.relation.prototypes import reversed_key
from kgrel.models.relation.quality import example_quality

OUTCOMES = {"accept": "accepted", "reject": "rejected", "correct": "corrected"}


class DecisionConflict(Exception):
    """A decision on a suggestion already decided otherwise (409)."""


@dataclass
class _DecisionWrite:
    decision: provenance.Decision
    quads: list[ox.Quad]


def apply_decision(candidate: Candidate, decision: provenance.Decision) -> None:
    candidate.status, candidate.relation = decision.outcome, decision.relation
    candidate.example, candidate.statement = decision.example, decision.statement
    candidate.user, candidate.decided = decision.user, decision.when
    candidate.recorded = True


def reconcile(session: Session, recorded: dict[str, provenance.Decision]) -> bool:
    """Make the session's candidates agree with the decisions in the graph; True when any changed.
    Decisions made before decision records existed (`recorded` false) are left as they are."""
    changed = False
    for c in session.candidates:
        if c.status == "pending" and c.id in recorded:
            apply_decision(c, recorded[c.id])
            changed = True
        elif c.status != "pending" and c.recorded and c.id not in recorded:
            c.status, c.relation, c.example, c.statement, c.user, c.decided = "pending", None, None, None, None, None
            c.recorded = False
            changed = True
    return changed


@dataclass
class Suggestion:
    candidate: Candidate
    score: float  # the model's probability of the session's relation, in the direction shown
    alternatives: list[tuple[str, str, float]]  # its likeliest other relations: IRI, label, probability


class LabellingService:
    def __init__(self, graph: GraphService, predictions: PredictionService, extraction: ExtractionService):
        self.graph = graph
        self.predictions = predictions
        self.extraction = extraction
        self.sessions = SessionStore(graph.settings.data_dir / "sessions")
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._reconciled: dict[str, int] = {}  # session id -> graph corrections count it was reconciled at

    def create_session(self, relation: str, name: str | None, user: str) -> Session:
        info, _ = self.graph.relation(relation)
        session = Session(id=self.sessions.new_id(), name=name or f"labelling {info.label}", relation=info.iri,
                          user=user, created=provenance.now())
        self.graph.store.insert(provenance.session_quads(session.id, info.iri, session.name, session.created))
        self.sessions.save(session)
        return session

    def add_texts(self, session_id: str, documents: list[str], mentions=None) -> dict:
        with self._session_lock(session_id):
            return self._add_texts(self.session(session_id), documents, mentions)

    def _add_texts(self, session: Session, documents: list[str], mentions=None) -> dict:
        linked = self.extraction.link(documents, mentions)
        # Only pairs of mentions that name entities can become facts: a name left unlinked is reported (and
        # can be marked by hand), never offered as a card whose acceptance could write no fact.
        pairs = [p for p in linked.pairs() if p.head.entity and p.tail.entity]
        # One candidate per pair of entities of a document (the first sentence naming both); the other
        # sentences naming them are its support, shown on the card and written with the fact's provenance.
        by_pair = {c.pair(): c for c in session.candidates}
        # A sentence already offered for the same two entities (text pasted again) is not offered twice.
        seen = {(text, c.pair()[1]) for c in session.candidates
                for text in [c.sentence, *(x.sentence for x in c.support)]}
        added = []
        for p in pairs:
            document = session.documents + p.document
            key = (document, frozenset((p.head.entity, p.tail.entity)))
            if (p.sentence, key[1]) in seen:
                continue
            seen.add((p.sentence, key[1]))
            if key in by_pair:
                first = by_pair[key]
                if any(first is a for a in added) and p.sentence != first.sentence:
                    head, tail = (p.head, p.tail) if p.head.entity == first.head.entity else (p.tail, p.head)
                    first.support.append(Support(p.sentence, p.offset, CandidateMention.found(head),
                                                 CandidateMention.found(tail)))
                continue
            candidate = Candidate(
                id=uuid.uuid4().hex[:12], sentence=p.sentence, document=document, offset=p.offset,
                head=CandidateMention.found(p.head), tail=CandidateMention.found(p.tail))
            by_pair[key] = candidate
            added.append(candidate)
        session.candidates.extend(added)
        session.documents += len(documents)
        self.sessions.save(session)
        return {"documents": len(documents), "sentences": len({(p.document, p.offset) for p in pairs}),
                "added": len(added), "pending": session.counts()["pending"], "ambiguous": linked.ambiguous(),
                "guessed": linked.guessed()}

    def suggestions(self, session_id: str, n: int = 10, diversity: float = 0.5) -> list[Suggestion]:
        """Pending candidates to label next: the model's probability of the session's relation near the
        decision boundary (the serving none-of-the-above threshold), spread over the text; with the
        current examples (accepted ones included).

        Each pair is shown in the direction the model finds the relation in (head and tail swapped
        when it reads the fact the other way round), so one pair is never offered both ways; each comes
        with the model's three likeliest other relations in that direction, from the same scores."""
        with self._session_lock(session_id):
            return self._suggestions(self.session(session_id), n, diversity)

    def _suggestions(self, session: Session, n: int, diversity: float, k: int = 3) -> list[Suggestion]:
        pending = [c for c in session.candidates if c.status == "pending"]
        if not pending:
            return []
        instances = [candidate_instance(c) for c in pending]
        scored = self.predictions.oriented(instances, keys=[view_key(c) for c in pending])
        forward, backward, protos = scored.forward, scored.backward, scored.prototypes
        r = self.predictions.relation_index(protos, session.relation)
        fixed = [i for i, c in enumerate(pending) if c.swapped_by_user]  # the user set the direction: it stands
        swapped = backward[:, r] > forward[:, r]
        swapped[fixed] = False
        for i in swapped.nonzero().flatten().tolist():
            pending[i].turn()
            instances[i] = candidate_instance(pending[i])
        if bool(swapped.any()):
            self.sessions.save(session)
        shown = forward.clone()  # every relation's probability in the direction each pair is shown
        shown[swapped] = backward[swapped]
        p = shown[:, r].clone()
        example_views, _ = self.predictions.views.views([view_key(c) for c in pending], instances)
        # Most informative where the service decides: the threshold the store's examples set, not 0.5.
        order = rank_for_labelling(p, example_views, n, diversity, scored.threshold)
        shown[:, r] = -1.0  # the alternatives are the other relations
        top = shown[order].topk(min(k, len(protos) - 1), dim=1)
        return [Suggestion(pending[i], round(float(p[i]), 4),
                           [(protos.iris[j], protos.labels[j], round(float(v), 4))
                            for v, j in zip(values.tolist(), indices.tolist(), strict=True)])
                for i, values, indices in zip(order, top.values, top.indices, strict=True)]

    def undo(self, session_id: str, candidate_id: str, user: str | None = None) -> Candidate:
        """Take a decision back: its fact and example leave the graph with its decision record, a revision
        record says who undid it, and the suggestion is pending again (to be decided anew)."""
        with self._session_lock(session_id):
            session = self.session(session_id)
            candidate = session.candidate(candidate_id)
            if candidate.status == "pending":
                raise DecisionConflict(f"suggestion {candidate_id} has no decision to undo")
            recorded = provenance.decisions(self.graph.store, session.id).get(candidate.id)
            decision = recorded or provenance.Decision(session.id, candidate.id, candidate.status, candidate.relation,
                                                       candidate.user or session.user, candidate.decided or "",
                                                       candidate.example, candidate.statement)
            provenance.undo_decision(self.graph.store, decision, user or session.user, provenance.now())
            if decision.relation is not None:  # an example (and maybe a fact) left the graph
                self.graph.changed({changes.RELATIONS, changes.FACTS})
            candidate.status, candidate.relation, candidate.example, candidate.statement = "pending", None, None, None
            candidate.user, candidate.decided, candidate.recorded = None, None, False
            self.sessions.save(session)
            return candidate

    def swap(self, session_id: str, candidate_id: str) -> Candidate:
        """Turn a pending suggestion round (head and tail exchanged), for good: the model no longer
        orients it. A decided one must be left as it is (409)."""
        with self._session_lock(session_id):
            session = self.session(session_id)
            candidate = session.candidate(candidate_id)
            if candidate.status != "pending":
                raise DecisionConflict(f"suggestion {candidate_id} was already {candidate.status}; only a pending "
                                       "one can be turned round")
            candidate.turn()
            candidate.swapped_by_user = True
            self.sessions.save(session)
            return candidate

    def decide(self, session_id: str, candidate_id: str, decision: str, relation: str | None = None,
               user: str | None = None, score: float | None = None) -> Candidate:
        """accept (the session's relation), reject (not it), or correct (another relation, or none when null).

        An accepted or corrected-to-a-relation sentence becomes an example of that relation at once, and
        its fact goes into the session's graph with provenance when both mentions are linked. The example,
        the fact and the decision are one transaction, under IRIs derived from the candidate; one decision
        at a time per session, and the same decision twice changes nothing.
        """
        if decision not in OUTCOMES:
            raise InvalidInstance(f"unknown decision {decision!r}: use accept, reject or correct")
        with self._session_lock(session_id):
            session = self.session(session_id)
            candidate = session.candidate(candidate_id)
            if decision == "accept":
                target = session.relation
            elif decision == "correct":
                target = self.graph.relation(relation)[0].iri if relation else None
            else:
                target = None
            outcome = OUTCOMES[decision]
            if candidate.status != "pending":
                if (candidate.status, candidate.relation) == (outcome, target):
                    return candidate  # a retried request: already done
                raise DecisionConflict(f"suggestion {candidate_id} was already {candidate.status}"
                                       + (f" as {self.graph.curie(candidate.relation)}" if candidate.relation else ""))
            # The score recorded with the fact is the model's own for the relation decided, whatever the
            # client says it was shown (`score` is kept for compatibility and not trusted).
            score = self._model_score(candidate, target) if target is not None else None
            record = self._decision(session, candidate, outcome, target, user or session.user, score)
            self.graph.store.insert(record.quads)
            if target is not None:  # a new example, and a fact when the mentions are linked
                self.graph.changed({changes.RELATIONS, changes.FACTS})
            apply_decision(candidate, record.decision)
            self.sessions.save(session)
            return candidate

    def _model_score(self, candidate: Candidate, relation: str) -> float | None:
        """The model's probability of (head, relation, tail) in the candidate's sentence, as it is shown."""
        scored = self.predictions.oriented([candidate_instance(candidate)], keys=[view_key(candidate)])
        forward, protos = scored.forward, scored.prototypes
        i = protos.index(relation)
        return None if i is None else round(float(forward[0, i]), 4)

    def _decision(self, session: Session, candidate: Candidate, outcome: str, target: str | None, user: str,
                  score: float | None) -> _DecisionWrite:
        when = provenance.now()
        quads: list[ox.Quad] = []
        example = statement = None
        if target is not None:
            example = kg_examples.EXAMPLE_PREFIX + f"{session.id}-{candidate.id}"
            quads += kg_examples.example_quads(example_record(
                target, candidate_instance(candidate), provenance.session_node(session.id), id=example, created=when))
            if candidate.head.entity and candidate.tail.entity:
                statement, fact = provenance.fact_quads(provenance.AcceptedFact(
                    candidate.head.entity, target, candidate.tail.entity, candidate.sentence,
                    (candidate.head.start, candidate.head.end), (candidate.tail.start, candidate.tail.end),
                    score, user, session.id, tuple(s.sentence for s in candidate.support)),
                    when=when, statement=provenance.statement_node(session.id, candidate.id))
                quads += fact
        decision = provenance.Decision(session.id, candidate.id, outcome, target, user, when, example, statement)
        return _DecisionWrite(decision, quads + provenance.decision_quads(decision))

    def session(self, session_id: str) -> Session:
        """A session, its state brought in line with the decisions recorded in the graph: when first read
        from disk (a crash between the graph's transaction and the session file loses nothing), and after
        the graph was corrected by hand (SPARQL Update, Graph Store Protocol), where a deleted decision
        record puts its suggestion back to pending."""
        session = self.sessions.get(session_id)
        corrections = self.graph.corrections
        if self._reconciled.get(session.id) != corrections:
            with self._session_lock(session.id):
                if self._reconciled.get(session.id) != corrections:
                    if reconcile(session, provenance.decisions(self.graph.store, session.id)):
                        self.sessions.save(session)
                    self._reconciled[session.id] = corrections
        return session

    def _session_lock(self, session_id: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(session_id, threading.RLock())

    def export_facts(self, session_id: str, rdf_format: ox.RdfFormat) -> bytes:
        self.session(session_id)  # 404 for an unknown session
        triples = provenance.session_triples(self.graph.store, session_id)
        if rdf_format == ox.RdfFormat.N_QUADS:
            graph = ox.NamedNode(provenance.session_graph(session_id))
            return ox.serialize([ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples], format=rdf_format)
        return ox.serialize(triples, format=rdf_format, prefixes=self.graph.prefixes.as_dict())

    def agreement(self, relation: str) -> dict | None:
        """Cohen's kappa between annotators who decided the same pair of mentions in the same sentence, in
        sessions of `relation`: each decision labelled by the relation it settled on in its direction, or
        none. With more than two annotators, the two who share the most items. None when no pair was
        decided by two annotators."""
        by_item: dict[tuple, dict[str, str]] = defaultdict(dict)
        for session in self.sessions.all():
            if session.relation != relation:
                continue
            for c in session.candidates:
                if c.status == "pending" or not c.user:
                    continue
                first, second = sorted([(c.head.start, c.head.end), (c.tail.start, c.tail.end)])
                item = (c.sentence, first, second)
                # The category: the relation, read from the earlier mention to the later one or back.
                direction = "forward" if (c.head.start, c.head.end) == first else "backward"
                label = f"{c.relation} {direction}" if c.relation else "none"
                by_item[item].setdefault(c.user, label)
        shared: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for labels in by_item.values():
            users = sorted(labels)
            for i, a in enumerate(users):
                for b in users[i + 1:]:
                    shared[(a, b)].append((labels[a], labels[b]))
        if not shared:
            return None
        (a, b), pairs = max(shared.items(), key=lambda kv: (len(kv[1]), kv[0]))
        return {"annotators": [a, b], "items": len(pairs), "kappa": cohens_kappa(pairs),
                "observed": round(sum(x == y for x, y in pairs) / len(pairs), 4)}

    def quality(self, identifier: str) -> dict:
        """Leave-one-out accuracy of the relation's examples, how it moved as they were added, and the
        annotators' agreement."""
        info, _ = self.graph.relation(identifier)
        records = kg_examples.list_examples(self.graph.store, info.iri)
        agreement = self.agreement(info.iri)
        if not records:
            return {"relation": info.iri, "examples": 0, "leave_one_out_accuracy": None, "curve": [],
                    "confused_with": [], "agreement": agreement}
        protos = self.predictions.prototypes()
        r = protos.index(info.iri)
        quality = example_quality(self.predictions.classifier.classifier, protos, r,
                                  [instance_from_record(rec) for rec in records])
        confused = [{"relation": protos.iris[o], "curie": self.graph.curie(protos.iris[o]),
                     "label": protos.labels[o], "examples": count} for o, count in quality.confusions.items()]
        return {"relation": info.iri, "examples": len(records),
                "leave_one_out_accuracy": quality.curve[-1]["accuracy"], "curve": quality.curve,
                "candidates": len(protos), "confused_with": confused, "agreement": agreement}

    def export_examples(self, identifier: str) -> dict:
        """The relation's examples in FewRel JSON: {relation: [{tokens, h, t}]}."""
        info, _ = self.graph.relation(identifier)
        records = kg_examples.list_examples(self.graph.store, info.iri)
        return {self.graph.curie(info.iri): [to_fewrel(instance_from_record(rec)) for rec in records]}


def view_key(c: Candidate) -> str:
    """The candidate in its current direction, for the view cache: one key for the pair read in sentence
    order and its reversed key once head and tail are swapped (by the model or the user), so that a pair
    turned round is not encoded again."""
    first, second = sorted((c.head.start, c.tail.start))
    key = f"{c.id}@{first}:{second}"
    return key if c.head.start < c.tail.start else reversed_key(key)


def candidate_instance(c: Candidate) -> RelationInstance:
    return make_instance(c.sentence, Mention(c.head.start, c.head.end, c.head.entity),
                         Mention(c.tail.start, c.tail.end, c.tail.entity))
