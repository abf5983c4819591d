"""Relation prediction as a service: the model, the prototypes of the graph's relations kept current,
and the graph context of each mention."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from kgrel.app.config import Settings
from kgrel.app.observability import Metrics
from kgrel.app.services.embeddings import EmbeddingService
from kgrel.app.services.graph import GraphService
from kgrel.kg import changes
from kgrel.kg import examples as kg_examples
from kgrel.kg.errors import InvalidIdentifier
from kgrel.models.fusion.classifier import GraphAwareClassifier, OrientedScores, ScoringState
from kgrel.models.fusion.evidence import GraphContext, UltraPlausibility
from kgrel.models.fusion.linking import entity_contexts, link_contexts
from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.relation.documents import Document, DocumentEntity
from kgrel.models.relation.instances import RelationInstance, instance_from_record
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.prototypes import InstancePrediction, InstanceViewCache, PrototypeSet, embed_both_ways

log = logging.getLogger(__name__)

TYPE_LABELS = 2  # class labels of an entity read as its type: its nearest classes


@dataclass
class _Built:
    """A scoring state and what it was built from."""

    state: ScoringState
    relations: int  # graph versions (`kg.changes`)
    facts: int
    embeddings: KGEmbeddings | None
    observed: dict  # the observed domain/range used, reused until the facts are re-read

    def current(self, graph: GraphService, embeddings: KGEmbeddings | None) -> bool:
        return self.relations == graph.version(changes.RELATIONS) and self.embeddings is embeddings


@dataclass
class PredictRequest:
    instance: RelationInstance
    candidates: list[str] | None = None  # relation IRIs or CURIEs; None: every relation
    top_k: int = 3
    threshold: float | None = None  # None: the model's none-of-the-above threshold


class PredictionService:
    def __init__(self, settings: Settings, graph: GraphService, embeddings: EmbeddingService, model: RelationModel,
                 metrics: Metrics | None = None):
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.graph = graph
        self.embeddings = embeddings
        self.model = model
        self.classifier = self._classifier(model)
        self.views = InstanceViewCache(model)
        self._lock = threading.Lock()  # guards the fields below; never held while building
        self._build_lock = threading.Lock()  # one build at a time
        self._built: _Built | None = None
        self._refreshing = False
        self._last_refresh = -float("inf")
        self._refresher: threading.Thread | None = None
        self._closed = False
        self._ultra: UltraPlausibility | None = None  # KGREL_PLAUSIBILITY=ultra: over the reasoner's graph

    def close(self, timeout_s: float = 30.0) -> None:
        """No new background refresh; wait for one that runs, so it never reads a closed store."""
        with self._lock:
            self._closed = True
            refresher = self._refresher
        if refresher is not None:
            refresher.join(timeout_s)

    def switch_model(self, model: RelationModel) -> None:
        """Serve with `model` from the next request on; its prototypes are built afresh."""
        classifier = self._classifier(model)
        views = InstanceViewCache(model)
        with self._lock:
            self.model, self.classifier, self.views, self._built = model, classifier, views, None

    def _classifier(self, model: RelationModel) -> GraphAwareClassifier:
        return GraphAwareClassifier(model, use_graph=self.settings.use_graph)

    def threshold(self) -> float:
        """The none-of-the-above threshold serving now: the model's calibrated one (a request may give its own)."""
        return self.state().threshold

    def state(self) -> ScoringState:
        """Prototypes, the relations' graph profile and encoded domain/range.

        A write to relations or examples, or new graph embeddings, is seen by the next request: it is
        rebuilt then (re-encoding only what changed). Facts only move what is observed of the relations
        (domain/range, symmetry), statistics over the whole graph: that is refreshed in the background
        while requests go on with the current state, so an ingest does not stall the next /predict."""
        built = self._built
        if built is not None and built.current(self.graph, self.embeddings.current):
            if built.facts != self.graph.version(changes.FACTS):
                self._refresh_in_background()
            return built.state
        with self._build_lock:
            built = self._built
            if built is None or not built.current(self.graph, self.embeddings.current):
                built = self._build(stale=None if built is None else set())
            return built.state

    def refresh(self) -> ScoringState:
        """Bring what is observed of the relations (domain/range, symmetry) up to date with the facts (what
        the background refresh does): recomputed only for the relations whose facts changed, and nothing
        rebuilt when none did."""
        with self._build_lock, self.metrics.time_model("rebuild"):
            facts_version = self.graph.version(changes.FACTS)
            stale = self.graph.take_stale_facts()
            built = self._built
            if stale is not None and built is not None:  # facts of predicates that are no relation do not count
                stale &= set(built.state.prototypes.iris)
            if stale is not None and not stale and built is not None \
                    and built.current(self.graph, self.embeddings.current):
                with self._lock:  # facts about no relation of the graph: the state stands
                    if self._built is built:
                        built.facts = max(built.facts, facts_version)
                return built.state
            return self._build(stale=stale, facts_version=facts_version).state

    def _refresh_in_background(self) -> None:
        # At most one refresh at a time, and one per interval: under a stream of small ingests the
        # statistic would otherwise be recomputed back to back, taking a core from the requests.
        with self._lock:
            if self._closed or self._refreshing or \
                    time.monotonic() - self._last_refresh < self.settings.refresh_interval_s:
                return
            self._refreshing, self._last_refresh = True, time.monotonic()

        def run() -> None:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a failed refresh leaves the current state serving
                log.exception("background refresh of the relation state failed")
            finally:
                with self._lock:
                    self._refreshing = False

        thread = threading.Thread(target=run, name="kgrel-state-refresh", daemon=True)
        with self._lock:
            self._refresher = thread
        thread.start()

    def _build(self, stale: set[str] | None, facts_version: int | None = None) -> _Built:
        """Build the state; what is observed of the relations in `stale` is recomputed and the
        rest reused (None: all recomputed; an empty set: all reused, the facts version left as it was)."""
        # Versions are read before the graph, so a write during the build leaves the result stale, not wrong.
        relations_version = self.graph.version(changes.RELATIONS)
        if facts_version is None:
            facts_version = self.graph.version(changes.FACTS)
        current, classifier, previous = self.embeddings.current, self.classifier, self._built
        reuse = None if previous is None else previous.observed
        relations, observed = self.graph.scoring_relations(reuse, None if reuse is None else stale)
        examples = defaultdict(list)
        for rec in kg_examples.list_examples(self.graph.store):
            examples[rec.relation].append((rec.id, instance_from_record(rec)))
        state = classifier.prepare(relations, examples, current)
        keeps_facts = reuse is not None and stale is not None and not stale  # nothing re-read from the facts
        built = _Built(state, relations_version, previous.facts if keeps_facts else facts_version, current, observed)
        with self._lock:
            if classifier is self.classifier:  # not switched to another model meanwhile
                self._built = built
        return built

    def prototypes(self) -> PrototypeSet:
        return self.state().prototypes

    def contexts(self, instances: Sequence[RelationInstance]) -> list[GraphContext] | None:
        """What the graph knows of each instance's mentions; None when graph evidence is off."""
        if not self.settings.use_graph:
            return None
        return link_contexts(instances, self.graph.label_index(), self.graph.ontology, self.embeddings.current,
                             self.graph.facts_of)

    def plausibility(self, contexts: Sequence[GraphContext] | None) -> UltraPlausibility | None:
        """ULTRA's plausibility over the graph as it is now (`KGREL_PLAUSIBILITY=ultra`; its values kept until
        the facts change) where a pair of `contexts` is linked, else None: the embeddings' plausibility, where
        embeddings were trained."""
        if self.settings.plausibility != "ultra" or not contexts \
                or not any(c.head.entity and c.tail.entity for c in contexts):
            return None
        reasoner = self.embeddings.reasoner()
        with self._lock:
            if self._ultra is None or self._ultra.reasoner is not reasoner:
                self._ultra = UltraPlausibility(reasoner)
            return self._ultra

    def forget_plausibility(self) -> None:
        """Drop ULTRA's kept plausibility values (benchmarks that time computing them)."""
        with self._lock:
            self._ultra = None

    def relation_index(self, protos: PrototypeSet, identifier: str) -> int:
        i = protos.index(self.graph.iri(identifier))
        if i is None:
            raise InvalidIdentifier(f"unknown relation {identifier!r}; GET /relations lists them")
        return i

    def predict(self, requests: list[PredictRequest]) -> list[InstancePrediction]:
        state = self.state()
        protos = state.prototypes
        candidates = []
        for req in requests:
            if req.candidates is None:
                candidates.append(None)
                continue
            idx = []
            for c in req.candidates:
                i = protos.index(self.graph.iri(c))
                if i is None:
                    raise InvalidIdentifier(f"unknown relation {c!r} in candidates; GET /relations lists them")
                idx.append(i)
            candidates.append(idx)
        instances = [r.instance for r in requests]
        contexts = self.contexts(instances) if len(protos) else None
        with self.metrics.time_model("predict"):
            return self.classifier.predict(state, instances, contexts, candidates, top_k=[r.top_k for r in requests],
                                           threshold=[r.threshold for r in requests],
                                           ultra=self.plausibility(contexts))

    def oriented(self, instances: Sequence[RelationInstance], keys: Sequence[str] | None = None) -> OrientedScores:
        """Calibrated probabilities of the facts (head r tail) and (tail r head) for every relation, one
        direction per fact (with graph evidence), with the prototypes they are columns of and the threshold
        of the same state. `keys` name the instances so that their encoding is kept."""
        state = self.state()
        if keys is not None:
            forward_views, backward_views = self.views.both_ways(keys, instances)
        else:
            forward_views, backward_views = embed_both_ways(self.model, instances)
        contexts = self.contexts(instances)
        fwd, bwd = self.classifier.oriented(state, forward_views, backward_views, contexts,
                                            self.plausibility(contexts))
        return OrientedScores(fwd, bwd, state.prototypes, state.threshold)

    def read_documents(self, documents: Sequence[Document], pairs: Sequence[Sequence[tuple[int, int]]]
                       ) -> list[OrientedScores]:
        """Each document read once: the calibrated probabilities of the facts (a r b) and (b r a) for each of its
        (a, b) entity pairs and every relation, one direction per fact, with graph evidence for linked entities
        and their classes as types; all against one scoring state."""
        state = self.state()
        documents = self.typed(documents)
        views = self.model.read_pairs(documents, pairs)
        entity_pairs = [(d.entities[a].iri, d.entities[b].iri) for d, ps in zip(documents, pairs, strict=True)
                        for a, b in ps]
        contexts = (entity_contexts(entity_pairs, self.graph.ontology, self.embeddings.current, self.graph.facts_of)
                    if self.settings.use_graph and entity_pairs else None)
        ultra = self.plausibility(contexts)
        out, start = [], 0
        with self.metrics.time_model("read"):
            for doc_pairs, v in zip(pairs, views, strict=True):
                part = None if contexts is None else contexts[start:start + len(doc_pairs)]
                start += len(doc_pairs)
                fwd, bwd = self.classifier.oriented(state, (v.example, v.side), (v.reversed_example, v.reversed_side),
                                                    part, ultra)
                out.append(OrientedScores(fwd, bwd, state.prototypes, state.threshold))
        return out

    def typed(self, documents: Sequence[Document]) -> list[Document]:
        """The documents with each linked entity's nearest class labels from the graph (types as evidence)."""
        iris = [e.iri for d in documents for e in d.entities if e.iri and not e.classes]
        if not iris or not self.settings.use_graph:
            return list(documents)
        classes = self.graph.ontology.hypernyms(iris, max_per_entity=TYPE_LABELS)
        return [Document(d.text, [DocumentEntity(e.mentions, e.iri, e.classes or tuple(classes.get(e.iri or "", ())))
                                  for e in d.entities], d.sentences) for d in documents]
