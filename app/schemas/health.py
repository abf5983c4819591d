"""Body of /health."""

from __future__ import annotations

from pydantic import BaseModel


class EmbeddingsSummary(BaseModel):
    entities: int
    relations: int


class HealthOut(BaseModel):
    status: str
    store: str
    store_reachable: bool
    model_loaded: bool
    model: str
    encoder: str
    device: str
    precision: str
    kg_embeddings: EmbeddingsSummary | None = None
