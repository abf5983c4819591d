"""The graph as the API sees it: ingest, SPARQL, relations and their examples, entities, identifiers.

Every write bumps the version of each aspect it changes (`kg.changes`: relations, labels, facts), so
what other services build from the graph (prototypes, the label index) rebuilds only when it must.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import IO

from kgrel.app.config import Settings
from kgrel.app.observability import Metrics
from kgrel.kg import changes, disambiguation, graph_store, stamp
from kgrel.kg import entities as kg_entities
from kgrel.kg import examples as kg_examples
from kgrel.kg import relations as kg_relations
from kgrel.kg.errors import KGError, NotFound, StoreUnavailable
from kgrel.kg.ingest import IngestReport, ingest, ingest_file, replace_graph
from kgrel.kg.linking import FoundMention, LabelIndex
from kgrel.kg.ontology import EntityInfo, OntologyView, RelationInfo, apply_observed, undeclared_algebra
from kgrel.kg.prefixes import PrefixMap
from kgrel.kg.sparql import QueryLimits, SparqlResponse, run_query, run_update
from kgrel.kg.store import KnowledgeStore, open_store
from kgrel.models.relation.instances import RelationInstance

log = logging.getLogger(__name__)


def example_record(relation: str, x: RelationInstance, source: str | None = None, **fixed) -> kg_examples.ExampleRecord:
    """The stored form of a labelled sentence; `fixed` may set its `id` and `created` time."""
    return kg_examples.ExampleRecord(
        relation=relation, text=x.text, head_start=x.head.start, head_end=x.head.end, tail_start=x.tail.start,
        tail_end=x.tail.end, head_entity=x.head.entity, tail_entity=x.tail.entity, source=source, **fixed)


# What a worker announces besides the graph's aspects (`kg.changes`), for the other workers over a shared store.
PREFIXES, CORRECTIONS, EMBEDDINGS, MODEL = "prefixes", "corrections", "embeddings", "model"


class QueriesBusy(Exception):
    """Every slot for client SPARQL queries is taken: answered 503 with Retry-After."""

    retry_after_s = 1


class GraphService:
    def __init__(self, settings: Settings, store: KnowledgeStore | None = None, metrics: Metrics | None = None):
        self.settings = settings
        self.metrics = metrics or Metrics()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or open_store(settings.store_location(), settings.store_update_url, settings.store_engine)
        self.prefixes = PrefixMap(settings.data_dir / "prefixes.json")
        self.ontology = OntologyView(self.store, lang=settings.lang)
        self._lock = threading.Lock()
        self._versions = dict.fromkeys(changes.ALL, 0)
        self._stale_facts: set[str] | None = set()
        self._labels: tuple[int, LabelIndex] | None = None
        # Whether each relation's facts are mostly stated both ways (a second to count on a large graph);
        # a relation leaves it when its facts change.
        self._reciprocated: dict[str, bool] = {}
        self._queries = threading.BoundedSemaphore(settings.sparql_concurrency)
        self._updates = threading.Lock()
        self.corrections = 0  # hand corrections (SPARQL Update, Graph Store Protocol) so far
        # Over a store other workers write to, writes leave a version stamp and each request reads it.
        self.stamp = stamp.StampWatcher(self.store) if self.store.shared else None
        self.query_limits = QueryLimits(timeout_s=settings.sparql_timeout_s, max_rows=settings.sparql_max_rows,
                                        memory_mb=settings.sparql_memory_mb,
                                        allowed_services=tuple(settings.sparql_service_allow))

    def close(self) -> None:
        self.store.close()

    def version(self, aspect: str) -> int:
        return self._versions[aspect]

    def changed(self, aspects=changes.ALL, fact_relations: frozenset[str] | None = None) -> None:
        """Bump the versions of `aspects`; for facts, `fact_relations` names the relations whose facts
        changed (None: possibly any), so that only their observed domain/range is recomputed."""
        self._bump(aspects, fact_relations)
        self.announce(aspects)

    def announce(self, aspects) -> None:
        """Tell the other workers over a shared store that `aspects` changed (nothing to do alone)."""
        if self.stamp is None or not aspects:
            return
        try:
            self.stamp.wrote(aspects)
        except KGError:  # the write itself landed; the others catch up at the next stamp
            log.exception("could not leave the version stamp in the store")

    def sync(self) -> set[str]:
        """What other workers over a shared store changed since the last call (read once per request);
        the graph's own aspects are bumped here, the rest is for the caller to reload."""
        if self.stamp is None:
            return set()
        try:
            others = self.stamp.changed_elsewhere()
        except StoreUnavailable:  # the request meets it itself (or /health reports it)
            return set()
        if others & changes.ALL:
            self._bump(others, None)  # only the graph's own aspects are bumped
        if PREFIXES in others:
            self.prefixes.reload()
        if CORRECTIONS in others:
            with self._lock:
                self.corrections += 1
        return others

    def _bump(self, aspects, fact_relations: frozenset[str] | None) -> None:
        aspects = changes.ALL.intersection(aspects)
        with self._lock:
            for aspect in aspects:
                self._versions[aspect] += 1
            if changes.FACTS in aspects:
                if fact_relations is None or self._stale_facts is None:
                    self._stale_facts = None
                else:
                    self._stale_facts |= fact_relations
                if fact_relations is None:
                    self._reciprocated.clear()
                else:
                    for iri in fact_relations:
                        self._reciprocated.pop(iri, None)

    def take_stale_facts(self) -> set[str] | None:
        """The relations whose facts changed since the last call (None: possibly all), and forget them."""
        with self._lock:
            stale, self._stale_facts = self._stale_facts, set()
            return stale

    # Identifiers ------------------------------------------------------------------------------

    def iri(self, identifier: str) -> str:
        return self.prefixes.expand(identifier)

    def curie(self, iri: str) -> str:
        return self.prefixes.compact(iri)

    # Ingest and SPARQL ------------------------------------------------------------------------

    def ingest(self, source: bytes | IO[bytes], rdf_format, *, graph: str | None = None,
               base_iri: str | None = None) -> IngestReport:
        with self.metrics.time_store("ingest"):
            report = ingest(self.store, source, rdf_format, base_iri=base_iri,
                            graph=self.iri(graph) if graph else None, strict_literals=self.settings.strict_literals)
        self._ingested(report)
        return report

    def _ingested(self, report: IngestReport) -> None:
        self._learn_prefixes(report.prefixes)
        if report.changes:
            self.changed(report.changes, report.fact_relations)

    def ingest_file(self, path: Path, rdf_format=None, graph: str | None = None) -> IngestReport:
        report = ingest_file(self.store, path, rdf_format, graph=self.iri(graph) if graph else None)
        self._ingested(report)
        return report

    def load_demo_if_empty(self) -> IngestReport | None:
        """Load the bundled demo graph into an empty store (first start of `make run`)."""
        if self.store.count() > 0:
            return None
        report = self.ingest_file(self.settings.demo_graph)
        log.info("loaded demo graph %s: %d triples", self.settings.demo_graph, report.added)
        return report

    def sparql(self, query: str, accept: str | None, default_graphs=None, named_graphs=None,
               cancelled: threading.Event | None = None) -> SparqlResponse:
        """A client's query, within the configured limits; at most `sparql_concurrency` run at once."""
        if not self._queries.acquire(blocking=False):
            raise QueriesBusy(f"{self.settings.sparql_concurrency} SPARQL queries are running "
                              "(KGREL_SPARQL_CONCURRENCY); try again shortly")
        self.metrics.queries_running.inc()
        try:
            with self.metrics.time_store("sparql"):
                return run_query(self.store, query, accept, prefixes=self.prefixes.as_dict(),
                                 default_graphs=[g if g == "default" else self.iri(g) for g in default_graphs or []],
                                 named_graphs=[self.iri(g) for g in named_graphs or []],
                                 limits=self.query_limits, cancelled=cancelled)
        finally:
            self.metrics.queries_running.dec()
            self._queries.release()

    def update(self, text: str) -> None:
        """A client's SPARQL Update, in one transaction. What it changed is not known, so everything built
        from the graph is rebuilt. One update at a time, as writes are serialised by the store anyway."""
        with self._updates, self.metrics.time_store("update"):
            run_update(self.store, text, prefixes=self.prefixes.as_dict(), limits=self.query_limits)
        self._corrected()

    # The Graph Store HTTP Protocol: one graph at a time, None for the default graph.

    def read_graph(self, graph: str | None) -> list:
        return graph_store.read(self.store, self.iri(graph) if graph else None, self.settings.sparql_max_rows)

    def replace_graph(self, graph: str | None, source: bytes, rdf_format, base_iri: str | None = None):
        with self._updates, self.metrics.time_store("update"):
            report, created = replace_graph(self.store, source, rdf_format, self.iri(graph) if graph else None,
                                            base_iri=base_iri, strict_literals=self.settings.strict_literals)
        self._learn_prefixes(report.prefixes)
        self._corrected()
        return report, created

    def drop_graph(self, graph: str | None) -> None:
        with self._updates, self.metrics.time_store("update"):
            graph_store.drop(self.store, self.iri(graph) if graph else None)
        self._corrected()

    def _learn_prefixes(self, prefixes: dict[str, str]) -> None:
        if self.prefixes.add(prefixes):
            self.announce({PREFIXES})

    def _corrected(self) -> None:
        """What a hand correction changed is not known: everything built from the graph is rebuilt, and
        labelling sessions are checked against their decision records again."""
        with self._lock:
            self.corrections += 1
        self.changed(changes.ALL | {CORRECTIONS})

    # Relations and examples -------------------------------------------------------------------

    def relations(self) -> list[tuple[RelationInfo, int]]:
        counts = kg_examples.count_examples(self.store)
        return [(r, counts.get(r.iri, 0)) for r in self._with_observed_symmetry(self.ontology.relations())]

    def relation(self, identifier: str) -> tuple[RelationInfo, int]:
        iri = self.iri(identifier)
        info = self.ontology.relation(iri)
        if info is None:
            raise NotFound(f"relation {identifier} not found; GET /relations lists the known relations")
        return self._with_observed_symmetry([info])[0], kg_examples.count_examples(self.store).get(iri, 0)

    def _with_observed_symmetry(self, relations: list[RelationInfo]) -> list[RelationInfo]:
        """`relations` marked observed-symmetric where their facts say so, for the listing and the relation
        model alike; counted only for relations whose facts changed since they were last counted."""
        if not self.settings.observed_symmetry:
            return relations
        undeclared = undeclared_algebra(relations)
        with self._lock:
            version = self._versions[changes.FACTS]
            known = dict(self._reciprocated)
        missing = [r.iri for r in undeclared if r.iri not in known]
        if missing:
            found = self.ontology.reciprocated(missing)
            fresh = {iri: iri in found for iri in missing}
            known.update(fresh)
            with self._lock:
                if self._versions[changes.FACTS] == version:  # no write meanwhile: what was counted still holds
                    self._reciprocated.update(fresh)
        for r in undeclared:
            r.observed_symmetric = known[r.iri]
        return relations

    def register_relation(self, spec: kg_relations.RelationSpec) -> RelationInfo:
        kg_relations.register_relation(self.store, spec)
        self.changed({changes.RELATIONS})
        return self.relation(spec.iri)[0]

    def delete_relation(self, identifier: str) -> None:
        kg_relations.delete_relation(self.store, self.iri(identifier))
        self.changed({changes.RELATIONS})

    def add_examples(self, identifier: str, instances: list[RelationInstance],
                     source: str | None = None) -> list[kg_examples.ExampleRecord]:
        iri = self.relation(identifier)[0].iri
        records = [example_record(iri, x, source) for x in instances]
        kg_examples.add_examples(self.store, records)
        # Examples naming graph entities count in the relation's observed domain/range, as its facts do.
        self.changed({changes.RELATIONS, changes.FACTS}, frozenset({iri}))
        return records

    def examples(self, identifier: str) -> list[kg_examples.ExampleRecord]:
        return kg_examples.list_examples(self.store, self.relation(identifier)[0].iri)

    def scoring_relations(self, observed: dict | None = None,
                          stale: set[str] | None = None) -> tuple[list[RelationInfo], dict]:
        """Every relation with its side information and what its facts in the graph add (when the settings
        say so): classes for those without a declared domain/range, and symmetry for those whose facts are
        mostly stated both ways though the graph declares no algebra for them (`_with_observed_symmetry`).
        The observed classes in `observed` (from an earlier call) are reused but for the relations in `stale`
        and those it has not seen; without it, or with `stale` None, all are computed afresh (a statistic
        over all facts: about a second on a large graph). Returns the relations and the observed classes
        used, ([], []) for those with none."""
        relations = self._with_observed_symmetry(self.ontology.relations())
        if not self.settings.observed_domain_range:
            return relations, {}
        bare = [r for r in relations if not (r.domain or r.range)]
        if observed is None or stale is None:
            todo, observed = bare, {}
        else:
            todo = [r for r in bare if r.iri in stale or r.iri not in observed]
        if todo:
            fresh = self.ontology.observed_arguments(todo)
            observed = {**observed, **{r.iri: fresh.get(r.iri, ([], [])) for r in todo}}
        apply_observed(relations, observed)
        return relations, observed

    # Entities ---------------------------------------------------------------------------------

    def label_index(self) -> LabelIndex:
        """Names of the graph's entities for linking mentions, rebuilt after writes."""
        with self._lock:
            version = self._versions[changes.LABELS]
            if self._labels is not None and self._labels[0] == version:
                return self._labels[1]
        index = LabelIndex.build(self.store)
        with self._lock:
            self._labels = (version, index)
        return index

    def link_sentences(self, sentences: list[str], max_mentions: int | None = None) -> list[list[FoundMention]]:
        """Mentions of graph entities in one document's sentences (`kg.disambiguation.link_sentences`)."""
        return disambiguation.link_sentences(self.store, self.label_index(), sentences, max_mentions)

    def labels(self, iris: list[str]) -> dict[str, str]:
        return kg_entities.first_labels(self.store, iris)

    def facts_of(self, iri: str) -> list[tuple[str, str, str]]:
        return kg_entities.facts_of(self.store, iri)

    def mint_entity(self, label: str, identifier: str | None = None, cls: str | None = None) -> str:
        """A new entity with a label (and class), for a mention the graph has no entity for."""
        iri = kg_entities.mint_entity(self.store, label, self.iri(identifier) if identifier else None,
                                      self.iri(cls) if cls else None, lang=self.settings.lang)
        self.changed({changes.LABELS, changes.FACTS})
        return iri

    def search_entities(self, query: str, limit: int = 10) -> list[tuple[str, str, float]]:
        """Entities by label or alias, typo-tolerant (`LabelIndex.search`)."""
        return self.label_index().search(query, limit)

    def entity(self, identifier: str, limit: int = 50, offset: int = 0) -> tuple[EntityInfo, kg_entities.Neighbourhood]:
        """An entity's labels, classes and neighbours (facts in both directions, a page), for browsing."""
        iri = self.iri(identifier)
        info = self.ontology.entity(iri)
        near = kg_entities.neighbourhood(self.store, iri, limit, offset)
        if not (info.labels or info.classes or near.outgoing_total or near.incoming_total):
            raise NotFound(f"entity {identifier} has no triples in the graph")
        return info, near
