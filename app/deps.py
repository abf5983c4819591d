"""Dependencies injected into routes: each service a route needs, as a typed alias (the FastAPI template's
`deps.py`). Every one goes through `get_service`, so a request first catches up with what other workers over a
shared store wrote, once. (API keys: `security`.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kgrel.app.config import Settings
from kgrel.app.services import KgrelService
from kgrel.app.services.embeddings import EmbeddingService
from kgrel.app.services.extraction import ExtractionService
from kgrel.app.services.graph import GraphService
from kgrel.app.services.jobs import JobRunner
from kgrel.app.services.labelling import LabellingService
from kgrel.app.services.model import ModelService
from kgrel.app.services.predictions import PredictionService


def get_service(request: Request) -> KgrelService:
    service = request.app.state.service
    service.sync()  # over a store other workers share: see their writes (one stamp read; nothing alone)
    return service


ServiceDep = Annotated[KgrelService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(lambda service=Depends(get_service): service.settings)]
GraphDep = Annotated[GraphService, Depends(lambda service=Depends(get_service): service.graph)]
PredictionsDep = Annotated[PredictionService, Depends(lambda service=Depends(get_service): service.predictions)]
ExtractionDep = Annotated[ExtractionService, Depends(lambda service=Depends(get_service): service.extraction)]
LabellingDep = Annotated[LabellingService, Depends(lambda service=Depends(get_service): service.labelling)]
EmbeddingsDep = Annotated[EmbeddingService, Depends(lambda service=Depends(get_service): service.embeddings)]
ModelDep = Annotated[ModelService, Depends(lambda service=Depends(get_service): service.models)]
JobsDep = Annotated[JobRunner, Depends(lambda service=Depends(get_service): service.jobs)]
