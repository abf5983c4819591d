"""Background jobs as the API reports them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class JobStarted(BaseModel):
    job: str
    status: str
    status_url: str


class JobOut(BaseModel):
    id: str
    kind: str
    status: str = Field(description="queued, running, done or failed")
    progress: dict = Field(description="What the job reports while it runs (stage, epoch, loss, ...).")
    result: dict | None = None
    error: str | None = None
    created: float
    started: float | None = None
    finished: float | None = None
