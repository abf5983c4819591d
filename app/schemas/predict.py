"""Bodies of /predict."""

from __future__ import annotations

from pydantic import BaseModel, Field

from kgrel.app.schemas.instances import InstanceIn


class PredictIn(InstanceIn):
    candidates: list[str] | None = Field(None, description="Relations to choose from (IRIs or CURIEs); "
                                                           "all relations when absent.")
    top_k: int = Field(3, ge=1, le=100)
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="Probability under which the answer is "
                                                                      "none of the above (default: the model's).")


class PredictionOut(BaseModel):
    relation: str
    curie: str
    label: str
    score: float = Field(description="Calibrated probability that this relation holds between the mentions.")
    reversed: bool = Field(False, description="The fact reads tail → relation → head: the pair was asked the other "
                                              "way round. Each pair is scored both ways and a relation is returned in "
                                              "one direction only.")


class PredictOut(BaseModel):
    predictions: list[PredictionOut]
    none_of_the_above: bool
