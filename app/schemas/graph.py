"""Bodies of /graph: ingest reports and entities."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IngestOut(BaseModel):
    added: int = Field(description="Triples that were not in the store before.")
    parsed: int = Field(description="Triples read from the body.")
    graph: str | None = None


class NodeOut(BaseModel):
    id: str
    curie: str
    label: str | None = None


class EdgeOut(BaseModel):
    relation: NodeOut
    entity: NodeOut


class EntityOut(BaseModel):
    id: str
    curie: str
    labels: list[str]
    classes: list[str] = Field(description="IRIs of the entity's rdf:type classes.")
    hypernyms: list[str] = Field(description="Labels of its classes and their superclasses.")
    outgoing: list[EdgeOut]
    incoming: list[EdgeOut]
