"""Bodies of /kg: training graph embeddings, similar entities, predicted links."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    graph: str | None = Field(None, description="Named graph to learn from (IRI or CURIE); all graphs when absent.")
    decoder: str = Field("complex", pattern="^(complex|distmult)$")
    encoder: str = Field("none", pattern="^(none|rgcn|ultra)$",
                         description="none: shallow embeddings; rgcn: R-GCN encoder; ultra: fine-tune the link "
                                     "predictor /kg/predict-links asks (or train it from scratch) on this graph")
    checkpoint: str | None = Field(None, pattern="^none$", description="ultra: 'none' trains from scratch; by "
                                                                       "default it starts from the serving weights")
    rank: int = Field(128, ge=4, le=2048)
    epochs: int = Field(50, ge=1, le=10000)
    time_limit_s: float | None = Field(900, gt=0, description="Stop training after this many seconds.")


class EntityScore(BaseModel):
    entity: str
    curie: str
    label: str | None = None
    score: float


class LinkScore(EntityScore):
    in_graph: bool = Field(description="The fact is already in the graph.")
