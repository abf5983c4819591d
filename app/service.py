"""The service object: wires the store, the ontology view and the relation model together.

It holds no RDF or ML logic of its own; routes and the CLI call it, and it calls `kg` and `models`.
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from app.config import Settings
from app.jobs import Job, JobRunner
from kg import examples as kg_examples
from kg import relations as kg_relations
from kg.errors import InvalidIdentifier, KGError, NotFound
from kg.export import export_graph
from kg.formats import format_for_path
from kg.ingest import IngestReport, ingest
from kg.linking import LabelIndex
from kg.namespaces import RDF, RDFS
from kg.ontology import OntologyView, RelationInfo
from kg.prefixes import PrefixMap
from kg.sparql import SparqlResponse, run_query
from kg.store import KnowledgeStore, open_store
from models.graph_evidence import (
    GraphContext,
    LinkedMention,
    RelationArguments,
    RelationGraphProfile,
    gather_evidence,
)
from models.instances import RelationInstance, instance_from_record
from models.kg_embeddings import KGEmbeddings
from models.link_prediction import LPConfig
from models.proto import InstancePrediction, PrototypeCache, PrototypeSet, PrototypicalClassifier
from models.relation_model import RelationModel

log = logging.getLogger(__name__)


class NoEmbeddings(KGError):
    """A graph-embedding request before any embeddings were trained."""


@dataclass
class PredictRequest:
    instance: RelationInstance
    candidates: list[str] | None = None  # relation IRIs or CURIEs; None: every relation
    top_k: int = 3
    threshold: float | None = None


class KgrelService:
    def __init__(self, settings: Settings, store: KnowledgeStore | None = None, model: RelationModel | None = None):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or open_store(settings.store_location(), settings.store_update_url)
        self.prefixes = PrefixMap(settings.data_dir / "prefixes.json")
        self.ontology = OntologyView(self.store, lang=settings.lang)
        self.model = model or RelationModel.load(settings.model_location(), encoder_dir=settings.encoder,
                                                 device=settings.device, batch_size=settings.batch_size,
                                                 precision=settings.precision)
        self.classifier = PrototypicalClassifier(self.model)
        self._cache = PrototypeCache(self.model)
        self._lock = threading.RLock()
        self._version = 0  # bumped by every write that can change relations or examples
        self._built: tuple[int, PrototypeSet, RelationGraphProfile | None, RelationArguments] | None = None
        self._labels: tuple[int, LabelIndex] | None = None
        self.jobs = JobRunner()
        self.kg: KGEmbeddings | None = self._load_current_kg()
        from app.labelling import Labelling

        self.labelling = Labelling(self)

    def close(self) -> None:
        self.store.close()

    # Store ----------------------------------------------------------------------------------

    def changed(self) -> None:
        with self._lock:
            self._version += 1

    def ingest(self, source: bytes | IO[bytes], rdf_format, *, graph: str | None = None,
               base_iri: str | None = None) -> IngestReport:
        report = ingest(self.store, source, rdf_format, base_iri=base_iri, graph=self.iri(graph) if graph else None)
        self.prefixes.add(report.prefixes)
        if report.added:
            self.changed()
        return report

    def ingest_file(self, path: Path, rdf_format=None, graph: str | None = None) -> IngestReport:
        rdf_format = rdf_format or format_for_path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            return self.ingest(f, rdf_format, graph=graph, base_iri=path.resolve().as_uri())

    def load_demo_if_empty(self) -> IngestReport | None:
        """Load the bundled demo graph into an empty store (first start of `make run`)."""
        if self.store.count() > 0:
            return None
        report = self.ingest_file(self.settings.demo_graph)
        log.info("loaded demo graph %s: %d triples", self.settings.demo_graph, report.added)
        return report

    def sparql(self, query: str, accept: str | None, default_graphs=None, named_graphs=None) -> SparqlResponse:
        return run_query(self.store, query, accept, prefixes=self.prefixes.as_dict(),
                         default_graphs=[self.iri(g) for g in default_graphs or []],
                         named_graphs=[self.iri(g) for g in named_graphs or []])

    def iri(self, identifier: str) -> str:
        return self.prefixes.expand(identifier)

    def curie(self, iri: str) -> str:
        return self.prefixes.compact(iri)

    # Relations and examples -------------------------------------------------------------------

    def relations(self) -> list[tuple[RelationInfo, int]]:
        counts = kg_examples.count_examples(self.store)
        return [(r, counts.get(r.iri, 0)) for r in self.ontology.relations()]

    def relation(self, identifier: str) -> tuple[RelationInfo, int]:
        iri = self.iri(identifier)
        info = self.ontology.relation(iri)
        if info is None:
            raise NotFound(f"relation {identifier} not found; GET /relations lists the known relations")
        return info, kg_examples.count_examples(self.store).get(iri, 0)

    def register_relation(self, spec: kg_relations.RelationSpec) -> RelationInfo:
        kg_relations.register_relation(self.store, spec)
        self.changed()
        return self.relation(spec.iri)[0]

    def delete_relation(self, identifier: str) -> None:
        kg_relations.delete_relation(self.store, self.iri(identifier))
        self.changed()

    def add_examples(self, identifier: str, instances: list[RelationInstance],
                     source: str | None = None) -> list[kg_examples.ExampleRecord]:
        iri = self.relation(identifier)[0].iri
        records = [kg_examples.ExampleRecord(
            relation=iri, text=x.text, head_start=x.head.start, head_end=x.head.end, tail_start=x.tail.start,
            tail_end=x.tail.end, head_entity=x.head.entity, tail_entity=x.tail.entity, source=source)
            for x in instances]
        kg_examples.add_examples(self.store, records)
        self.changed()
        return records

    def examples(self, identifier: str) -> list[kg_examples.ExampleRecord]:
        iri = self.relation(identifier)[0].iri
        return kg_examples.list_examples(self.store, iri)

    # Prediction -------------------------------------------------------------------------------

    def prototypes(self) -> PrototypeSet:
        """The current prototypes, rebuilt (re-encoding only what changed) after any write."""
        return self.scoring_state()[0]

    def scoring_state(self) -> tuple[PrototypeSet, RelationGraphProfile | None, RelationArguments]:
        """Prototypes, the relations' graph profile and encoded domain/range labels, rebuilt after writes."""
        with self._lock:
            version = self._version
            if self._built is not None and self._built[0] == version:
                return self._built[1:]
            relations = self.ontology.relations()
            if self.settings.observed_domain_range:
                # Relations without a declared domain/range get the classes their facts actually have.
                observed = self.ontology.argument_classes([r.iri for r in relations if not (r.domain or r.range)])
                for r in relations:
                    if r.iri in observed:
                        r.domain, r.range = observed[r.iri]
            by_relation: dict[str, list[tuple[str, RelationInstance]]] = defaultdict(list)
            for rec in kg_examples.list_examples(self.store):
                by_relation[rec.relation].append((rec.id, instance_from_record(rec)))
            protos = self._cache.build(relations, by_relation)
            kg = self.kg
            profile = RelationGraphProfile(kg, protos.iris) if kg is not None else None
            arguments = RelationArguments.encode(self.model, [(r.domain, r.range) for r in relations])
            self._built = (version, protos, profile, arguments)
            return protos, profile, arguments

    def label_index(self) -> LabelIndex:
        with self._lock:
            if self._labels is None or self._labels[0] != self._version:
                self._labels = (self._version, LabelIndex.build(self.store))
            return self._labels[1]

    def graph_contexts(self, instances: list[RelationInstance]) -> list[GraphContext]:
        """Link each mention (its given IRI, else an exact label match) and gather its hypernyms and vector."""
        index = self.label_index()
        linked = [(x.head.entity or index.link(x.head_text), x.tail.entity or index.link(x.tail_text))
                  for x in instances]
        iris = [i for pair in linked for i in pair if i]
        hypernyms = self.ontology.hypernyms(iris) if iris else {}
        kg = self.kg
        vectors = {i: kg.vector(i, self.facts_of) for i in dict.fromkeys(iris)} if kg is not None else {}

        def mention(iri: str | None) -> LinkedMention:
            if iri is None:
                return LinkedMention()
            return LinkedMention(iri, hypernyms.get(iri, []), vectors.get(iri))

        return [GraphContext(mention(h), mention(t)) for h, t in linked]

    def predict(self, requests: list[PredictRequest]) -> list[InstancePrediction]:
        protos, profile, arguments = self.scoring_state()
        candidates = []
        for req in requests:
            if req.candidates is None:
                candidates.append(None)
                continue
            idx = []
            for c in req.candidates:
                i = protos.index(self.iri(c))
                if i is None:
                    raise InvalidIdentifier(f"unknown relation {c!r} in candidates; GET /relations lists them")
                idx.append(i)
            candidates.append(idx)
        top_k = max((r.top_k for r in requests), default=1)
        instances = [r.instance for r in requests]
        evidence = None
        if self.settings.use_graph and len(protos):
            contexts = self.graph_contexts(instances)
            if any(c.head.entity or c.tail.entity for c in contexts):
                evidence = gather_evidence(self.model, contexts, protos.description, profile, arguments)
        results = self.classifier.predict(instances, protos, candidates, top_k=top_k, evidence=evidence)
        threshold = self.model.config.nota_threshold
        for req, res in zip(requests, results, strict=True):
            res.predictions = res.predictions[:req.top_k]
            if req.threshold is not None:
                res.none_of_the_above = not res.predictions or res.predictions[0].score < req.threshold
            elif not res.predictions:
                res.none_of_the_above = True
            else:
                res.none_of_the_above = res.predictions[0].score < threshold
        return results

    # Knowledge-graph embeddings ----------------------------------------------------------------

    @property
    def kg_dir(self) -> Path:
        return self.settings.data_dir / "kg"

    def _load_current_kg(self) -> KGEmbeddings | None:
        pointer = self.kg_dir / "CURRENT"
        if not pointer.exists():
            return None
        folder = self.kg_dir / pointer.read_text(encoding="utf-8").strip()
        try:
            return KGEmbeddings.load(folder)
        except (OSError, ValueError, KeyError) as e:
            log.warning("cannot load knowledge-graph embeddings from %s: %s", folder, e)
            return None

    def start_kg_training(self, graph: str | None, config: LPConfig) -> Job:
        """Train graph embeddings in the background; the service switches to them atomically when done."""
        graph_iri = self.iri(graph) if graph else None

        def work(progress) -> dict:
            progress({"stage": "exporting the graph"})
            export = export_graph(self.store, graph_iri)
            progress({"stage": "training", "entities": export.num_nodes, "triples": len(export.triples)})
            embeddings = KGEmbeddings.train(export, config, device=str(self.model.device), progress=False,
                                            on_epoch=lambda r: progress({"stage": "training", **r}))
            name = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
            embeddings.save(self.kg_dir / name)
            tmp = self.kg_dir / ".CURRENT.tmp"
            tmp.write_text(name, encoding="utf-8")
            os.replace(tmp, self.kg_dir / "CURRENT")
            self.kg = embeddings  # one assignment: readers see the old or the new embeddings, never a mix
            self.changed()
            return {"folder": str(self.kg_dir / name), "entities": export.num_nodes,
                    "relations": len(export.relations), "triples": len(export.triples),
                    "seconds": embeddings.report.get("seconds"), "epochs": embeddings.report.get("epochs"),
                    "final_loss": embeddings.report["history"][-1]["loss"]}

        return self.jobs.start("kg-train", work)

    def require_kg(self) -> KGEmbeddings:
        kg = self.kg
        if kg is None:
            raise NoEmbeddings("no knowledge-graph embeddings yet: train them with POST /kg/train or `kgrel kg train`")
        return kg

    def facts_of(self, iri: str, limit: int = 500) -> list[tuple[str, str, str]]:
        """Triples linking an entity to other resources, for embedding entities added after training."""
        rows = self.store.select(
            f"SELECT ?s ?p ?o WHERE {{ {{ <{iri}> ?p ?o FILTER(isIRI(?o)) BIND(<{iri}> AS ?s) }} UNION "
            f"{{ ?s ?p <{iri}> FILTER(isIRI(?s)) BIND(<{iri}> AS ?o) }} }} LIMIT {limit}")
        return [(r["s"].value, r["p"].value, r["o"].value) for r in rows]

    def entity_vector(self, iri: str):
        vec = self.require_kg().vector(iri, self.facts_of)
        if vec is None:
            raise NotFound(f"entity {self.curie(iri)} has no embedding: it was not in the trained graph and has "
                           "no facts linking it to entities that were")
        return vec

    def labels(self, iris: list[str]) -> dict[str, str]:
        if not iris:
            return {}
        values = " ".join(f"<{i}>" for i in iris)
        rows = self.store.select(f"SELECT ?e ?l WHERE {{ VALUES ?e {{ {values} }} ?e <{RDFS}label> ?l }}")
        out: dict[str, str] = {}
        for r in rows:
            out.setdefault(r["e"].value, r["l"].value)
        return out

    def similar_entities(self, identifier: str, k: int) -> list[tuple[str, float]]:
        iri = self.iri(identifier)
        return self.require_kg().similar(self.entity_vector(iri), k, exclude=iri)

    def predict_links(self, head: str, relation: str, k: int) -> tuple[str, str, list[tuple[str, float, bool]]]:
        kg = self.require_kg()
        head_iri, relation_iri = self.iri(head), self.iri(relation)
        index = kg.relation_index(relation_iri)
        if index is None:
            raise NotFound(f"relation {self.curie(relation_iri)} has no facts in the trained graph, so the "
                           "embeddings cannot predict it")
        known = {t for h, p, t in self.facts_of(head_iri) if h == head_iri and p == relation_iri}
        tails = kg.predict_tails(self.entity_vector(head_iri), index, k)
        return head_iri, relation_iri, [(t, score, t in known) for t, score in tails]

    def entity(self, identifier: str, limit: int = 50) -> dict:
        """An entity's labels, classes and neighbours (facts in both directions), for browsing."""
        iri = self.iri(identifier)
        info = self.ontology.entity(iri)
        out_rows = self.store.select(
            f"SELECT ?p ?o WHERE {{ <{iri}> ?p ?o FILTER(isIRI(?o) && ?p != <{RDF}type>) }} LIMIT {limit}")
        in_rows = self.store.select(f"SELECT ?s ?p WHERE {{ ?s ?p <{iri}> FILTER(isIRI(?s)) }} LIMIT {limit}")
        if not (info.labels or info.classes or out_rows or in_rows):
            raise NotFound(f"entity {identifier} has no triples in the graph")
        iris = [r["o"].value for r in out_rows] + [r["s"].value for r in in_rows]
        iris += [r["p"].value for r in out_rows + in_rows]
        labels = self.labels(list(dict.fromkeys(iris)))

        def node(value: str) -> dict:
            return {"id": value, "curie": self.curie(value), "label": labels.get(value)}

        return {"id": iri, "curie": self.curie(iri), "labels": info.labels, "classes": info.classes,
                "hypernyms": info.hypernyms,
                "outgoing": [{"relation": node(r["p"].value), "entity": node(r["o"].value)} for r in out_rows],
                "incoming": [{"relation": node(r["p"].value), "entity": node(r["s"].value)} for r in in_rows]}

    def health(self) -> dict:
        return {"status": "ok" if self.store.ping() else "degraded", "store": self.store.description,
                "store_reachable": self.store.ping(), "model_loaded": self.model is not None,
                "model": self.settings.model_location() or "untrained",
                "encoder": str(self.model.encoder.model_dir), "device": str(self.model.device),
                "precision": self.model.encoder.precision,
                "kg_embeddings": None if self.kg is None else {"entities": self.kg.export.num_nodes,
                                                               "relations": len(self.kg.export.relations)}}
