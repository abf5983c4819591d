"""Bodies of /model: the relation model folders, choosing one, adapting to the user's examples."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelOut(BaseModel):
    name: str = Field(description="'base' (the model the settings name) or an adapted model's name.")
    path: str
    active: bool = Field(description="This model answers /predict, /extract and the labelling sessions.")
    adaptation: dict | None = Field(None, description="How an adapted model was validated: relation-disjoint "
                                                      "scores before and after, relations trained and held out; "
                                                      "for a recalibrated one (kind 'recalibration'), the "
                                                      "calibration before and after.")


class SelectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="A name from GET /model ('base' to switch back).")


class AdaptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(200, ge=1, le=5000)
    train_layers: int = Field(0, ge=0, le=6, description="0: the heads only (minutes on CPU); more: also that many "
                                                         "top encoder layers.")
    validation_share: float = Field(0.4, gt=0.0, lt=1.0, description="Share of relations held out for validation.")
    seed: int = 0
    force: bool = Field(False, description="Serve the adapted model even if it validates worse than the current one.")


class CalibrateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 0


class ThresholdOut(BaseModel):
    serving: float = Field(description="The none-of-the-above threshold of /predict and /extract when a request "
                                       "gives none.")
    model: float = Field(description="The serving model's own threshold (its calibration's operating point).")
