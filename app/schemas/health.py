"""Body of /health."""

from __future__ import annotations

from pydantic import BaseModel


class EmbeddingsSummary(BaseModel):
    entities: int
    relations: int


class HealthOut(BaseModel):
    status: str
    store_reachable: bool
    model_loaded: bool
    device: str
    precision: str
    worker: int  # process id of the worker that answered (several serve with `kgrel serve --workers N`)
    # Locations: only for callers with a key.
    store: str | None = None
    model: str | None = None
    encoder: str | None = None
    kg_embeddings: EmbeddingsSummary | None = None
