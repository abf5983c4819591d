"""The graph embeddings the service uses: the current folder, background training, and what they answer."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from pathlib import Path

from kgrel.app.services.graph import EMBEDDINGS, GraphService
from kgrel.app.services.jobs import Job, JobRunner
from kgrel.kg import changes
from kgrel.kg.errors import KGError, NotFound
from kgrel.kg.export import export_graph
from kgrel.models.graph import ultra_training
from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.graph.link_predictor import LPConfig
from kgrel.models.graph.reasoner import GraphReasoner
from kgrel.models.graph.ultra import FactGraph, Ultra
from kgrel.models.graph.ultra_training import UltraTrainConfig

log = logging.getLogger(__name__)


class NoEmbeddings(KGError):
    """A graph-embedding request before any embeddings were trained."""


def training_config(**options) -> LPConfig:
    """The link-prediction settings for the given options (LPConfig fields), the one place they are made."""
    return LPConfig(**options)


class EmbeddingService:
    def __init__(self, graph: GraphService, jobs: JobRunner, device: str = "cpu"):
        self.graph = graph
        self.jobs = jobs
        self.device = device
        self.folder = graph.settings.data_dir / "kg"
        self.current: KGEmbeddings | None = self._load_current()
        self._ultra: Ultra | None = None
        self._reasoner: tuple[int, GraphReasoner] | None = None  # (facts version, reasoner over that graph)
        self._reasoner_lock = threading.Lock()

    def _load_current(self) -> KGEmbeddings | None:
        pointer = self.folder / "CURRENT"
        if not pointer.exists():
            return None
        folder = self.folder / pointer.read_text(encoding="utf-8").strip()
        try:
            return KGEmbeddings.load(folder)
        except (OSError, ValueError, KeyError) as e:
            log.warning("cannot load knowledge-graph embeddings from %s: %s", folder, e)
            return None

    def reload(self) -> None:
        """Serve the embeddings the CURRENT pointer names and the ULTRA weights the ULTRA pointer names
        (another worker sharing the data dir trained them)."""
        self.current = self._load_current()
        with self._reasoner_lock:
            self._ultra, self._reasoner = None, None

    def start_training(self, graph: str | None, **options) -> Job:
        """Train graph embeddings in the background; the service switches to them atomically when done.

        `options` are LPConfig fields (decoder, encoder, rank, epochs, time_limit_s, ...).
        """
        config = training_config(**options)
        graph_iri = self.graph.iri(graph) if graph else None

        def work(progress) -> dict:
            progress({"stage": "exporting the graph"})
            export = export_graph(self.graph.store, graph_iri)
            progress({"stage": "training", "entities": export.num_nodes, "triples": len(export.triples)})
            embeddings = KGEmbeddings.train(export, config, device=self.device, progress=False,
                                            on_epoch=lambda r: progress({"stage": "training", **r}))
            name = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
            embeddings.save(self.folder / name)
            tmp = self.folder / ".CURRENT.tmp"
            tmp.write_text(name, encoding="utf-8")
            os.replace(tmp, self.folder / "CURRENT")
            self.current = embeddings  # one assignment: readers see the old or the new embeddings, never a mix
            self.graph.announce({EMBEDDINGS})
            return {"folder": str(self.folder / name), "entities": export.num_nodes,
                    "relations": len(export.relations), "triples": len(export.triples),
                    "seconds": embeddings.report.get("seconds"), "epochs": embeddings.report.get("epochs"),
                    "final_loss": embeddings.report["history"][-1]["loss"]}

        return self.jobs.start("kg-train", work)

    def require(self) -> KGEmbeddings:
        current = self.current
        if current is None:
            raise NoEmbeddings("no knowledge-graph embeddings yet: train them with POST /kg/train or `kgrel kg train`")
        return current

    def entity_vector(self, iri: str):
        vec = self.require().vector(iri, self.graph.facts_of)
        if vec is None:
            raise NotFound(f"entity {self.graph.curie(iri)} has no embedding: it was not in the trained graph and "
                           "has no facts linking it to entities that were")
        return vec

    def similar_entities(self, identifier: str, k: int) -> list[tuple[str, float]]:
        iri = self.graph.iri(identifier)
        return self.require().similar(self.entity_vector(iri), k, exclude=iri)

    def ultra_checkpoint(self) -> Path:
        """The ULTRA weights that serve: the last ones fine-tuned on this graph (`ULTRA` pointer in the data
        dir), else the settings' (the shipped ultra_3g)."""
        pointer = self.folder / "ULTRA"
        if pointer.exists():
            path = self.folder / pointer.read_text(encoding="utf-8").strip()
            if path.exists():
                return path
        return Path(self.graph.settings.ultra_checkpoint)

    def start_ultra_training(self, graph: str | None, epochs: int, checkpoint: str | None = None,
                             time_limit_s: float | None = None) -> Job:
        """Fine-tune ULTRA on the graph in the background, from the serving weights, from `checkpoint` (a
        weights file), or from scratch (`checkpoint` "none"); /kg/predict-links switches to the result
        when it is done, here and on the other workers sharing the data dir."""
        graph_iri = self.graph.iri(graph) if graph else None
        if checkpoint == "none":
            start = None
        elif checkpoint:
            start = Path(checkpoint)
            if not start.is_file():
                raise NotFound(f"no weights file {checkpoint}")
        else:
            start = self.ultra_checkpoint()

        def work(progress) -> dict:
            progress({"stage": "exporting the graph"})
            export = export_graph(self.graph.store, graph_iri)
            if not len(export.triples):
                raise NotFound("the graph has no facts between entities to learn from")
            batch_size = ultra_training.fitting_batch_size(
                export.num_nodes, UltraTrainConfig.batch_size,
                ultra_training.training_budget(self.device, self.graph.settings.train_memory_mb))
            model = Ultra.load(start, self.device) if start else Ultra().to(self.device)
            progress({"stage": "training", "entities": export.num_nodes, "triples": len(export.triples),
                      "batch_size": batch_size})
            history = ultra_training.train(
                model, FactGraph.from_triples(export.triples, export.num_nodes, len(export.relations)).to(self.device),
                export.triples, UltraTrainConfig(epochs=epochs, batch_size=batch_size, time_limit_s=time_limit_s),
                on_epoch=lambda r: progress({"stage": "training", **r}))
            name = "ultra-" + time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
            model.save(self.folder / f"{name}.pt", started_from=str(start) if start else None,
                       pretrained_on=(ultra_training.pretraining_graphs(start) or []) + ["this store"],
                       history=history)
            tmp = self.folder / ".ULTRA.tmp"
            tmp.write_text(f"{name}.pt", encoding="utf-8")
            os.replace(tmp, self.folder / "ULTRA")
            with self._reasoner_lock:
                self._ultra, self._reasoner = None, None  # the next question loads the new weights
            self.graph.announce({EMBEDDINGS})
            return {"checkpoint": str(self.folder / f"{name}.pt"), "started_from": str(start) if start else None,
                    "entities": export.num_nodes, "relations": len(export.relations), "triples": len(export.triples),
                    "epochs": len(history), "final_loss": history[-1]["loss"] if history else None,
                    "batch_size": batch_size}

        return self.jobs.start("kg-train", work)

    def reasoner(self) -> GraphReasoner:
        """ULTRA over the graph as it is now: rebuilt (seconds on a large graph) at the first question after
        a write, never trained. Loaded on first use."""
        with self._reasoner_lock:
            version = self.graph.version(changes.FACTS)
            if self._reasoner is None or self._reasoner[0] != version:
                if self._ultra is None:
                    self._ultra = Ultra.load(self.ultra_checkpoint(), self.device)
                self._reasoner = (version, GraphReasoner(self._ultra, export_graph(self.graph.store)))
            return self._reasoner[1]

    def predict_links(self, head: str, relation: str, k: int) -> list[tuple[str, float, bool]]:
        """The k most plausible tails of (head, relation), each with whether the fact is already in the graph:
        by ULTRA (default, `KGREL_LINK_PREDICTOR=ultra`) or by the trained embeddings (`embeddings`)."""
        head_iri, relation_iri = self.graph.iri(head), self.graph.iri(relation)
        known = {t for h, p, t in self.graph.facts_of(head_iri) if h == head_iri and p == relation_iri}
        if self.graph.settings.link_predictor == "ultra":
            reasoner = self.reasoner()
            if relation_iri not in reasoner.export.relation_index:
                raise NotFound(f"relation {self.graph.curie(relation_iri)} has no facts between entities in the "
                               "graph, so there is nothing to reason from")
            if head_iri not in reasoner.export.node_index:
                raise NotFound(f"entity {self.graph.curie(head_iri)} has no facts linking it to other entities")
            return [(t, score, t in known) for t, score in reasoner.predict_tails(head_iri, relation_iri, k)]
        embeddings = self.require()
        index = embeddings.relation_index(relation_iri)
        if index is None:
            raise NotFound(f"relation {self.graph.curie(relation_iri)} has no facts in the trained graph, so the "
                           "embeddings cannot predict it")
        tails = embeddings.predict_tails(self.entity_vector(head_iri), index, k)
        return [(t, score, t in known) for t, score in tails]

    def summary(self) -> dict | None:
        current = self.current
        return None if current is None else {"entities": current.export.num_nodes,
                                             "relations": len(current.export.relations)}


