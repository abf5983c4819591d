"""The services behind the API and the CLI, each with one job, wired together here.

    graph        ingest, SPARQL, relations, examples, entities (kg)
    embeddings   graph embeddings: current folder, background training, similar entities, links (models.graph)
    predictions  the relation model, prototypes kept current, graph context of mentions (models.fusion)
    extraction   raw text to candidate facts
    labelling    labelling sessions, example quality and exports
    models       which relation model serves; adapting it to the user's examples in the background

They hold no ML maths and no SPARQL of their own: they call `kg` and `models`.
"""

from __future__ import annotations

import os

from kgrel.app.config import Settings
from kgrel.app.observability import Metrics
from kgrel.app.services.embeddings import EmbeddingService, NoEmbeddings
from kgrel.app.services.extraction import ExtractionService
from kgrel.app.services.graph import EMBEDDINGS, MODEL, GraphService
from kgrel.app.services.jobs import JobRunner
from kgrel.app.services.labelling import LabellingService
from kgrel.app.services.model import BASE, ModelService
from kgrel.app.services.predictions import PredictionService, PredictRequest
from kgrel.kg.job_board import JobBoard
from kgrel.kg.store import KnowledgeStore
from kgrel.models.relation.model import RelationModel

__all__ = ["KgrelService", "NoEmbeddings", "PredictRequest"]


class KgrelService:
    def __init__(self, settings: Settings, store: KnowledgeStore | None = None, model: RelationModel | None = None,
                 metrics: Metrics | None = None):
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.graph = GraphService(settings, store, metrics=self.metrics)
        # Over a store other workers share, jobs are recorded in it, so that each kind runs once.
        self.jobs = JobRunner(JobBoard(self.graph.store) if self.graph.store.shared else None)
        # An adapted model chosen before a restart serves again (`ModelService.select`).
        active = ModelService.saved_choice(settings) if model is None else BASE
        model = model or RelationModel.load(ModelService.location_of(settings, active), encoder_dir=settings.encoder,
                                            device=settings.device, batch_size=settings.batch_size,
                                            precision=settings.precision)
        # Graph embeddings train where the relation model runs.
        self.embeddings = EmbeddingService(self.graph, self.jobs, device=str(model.device))
        self.predictions = PredictionService(settings, self.graph, self.embeddings, model, metrics=self.metrics)
        self.extraction = ExtractionService(self.graph, self.predictions, self.jobs)
        self.labelling = LabellingService(self.graph, self.predictions, self.extraction)
        self.models = ModelService(settings, self.graph, self.predictions, self.jobs, active)

    def close(self) -> None:
        self.predictions.close()  # a background refresh finishes before the store closes
        self.graph.close()

    def sync(self) -> None:
        """Catch up with what other workers over a shared store wrote (once per request): the graph's
        caches follow its version stamp, and new graph embeddings or a switched model are loaded."""
        others = self.graph.sync()
        if EMBEDDINGS in others:
            self.embeddings.reload()
        if MODEL in others:
            self.models.reload()

    # The two calls the CLI and benchmarks make most, kept short.
    def predict(self, requests: list[PredictRequest]):
        return self.predictions.predict(requests)

    def load_demo_if_empty(self):
        return self.graph.load_demo_if_empty()

    def health(self) -> dict:
        model = self.predictions.model
        reachable = self.graph.store.ping()
        return {"status": "ok" if reachable else "degraded", "store": self.graph.store.description,
                "store_reachable": reachable, "model_loaded": model is not None,
                "model": self.models.location(self.models.active) or "untrained",
                "encoder": str(model.encoder.model_dir),
                "device": str(model.device),
                "precision": model.encoder.precision, "kg_embeddings": self.embeddings.summary(),
                "worker": os.getpid()}
