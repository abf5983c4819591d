"""Background jobs as the API reports them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
    worker: str | None = Field(None, description="host:pid of the worker process running the job.")


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=1000, description="The document's id, recorded in each fact's provenance")
    text: str = Field(max_length=1_000_000)


class ExtractJobIn(BaseModel):
    """`kgrel extract` for a server user: the documents, and where their facts go."""

    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentIn] = Field(min_length=1, max_length=100_000)
    graph: str = Field("urn:kgrel:graph:extraction", description="Named graph of the facts (IRI or CURIE)")
    threshold: float | None = Field(None, ge=0, le=1, description="Keep facts scoring at least this (default: "
                                                                 "the model's none-of-the-above threshold)")
    ingest: bool = Field(False, description="Add the facts to the store when every document is done")

    @field_validator("documents")
    @classmethod
    def _unique_ids(cls, documents: list[DocumentIn]) -> list[DocumentIn]:
        seen: set[str] = set()
        for d in documents:
            if d.id in seen:
                raise ValueError(f"document id {d.id!r} appears twice; ids name documents in the facts' provenance")
            seen.add(d.id)
        return documents
