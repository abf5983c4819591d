"""Bodies of /graph: ingest reports and entities."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RewrittenLiteral(BaseModel):
    given: str = Field(description="The literal as sent, in N-Triples syntax.")
    stored: str = Field(description="What the store keeps and will return instead.")


class IngestOut(BaseModel):
    added: int = Field(description="Triples that were not in the store before.")
    parsed: int = Field(description="Triples read from the body.")
    graph: str | None = None
    rewritten: int | None = Field(0, description="Typed literals the store keeps in another (canonical) form, "
                                                 "e.g. \"0042\"^^xsd:int as \"42\"^^xsd:integer; null when the "
                                                 "store cannot tell (a remote endpoint). KGREL_STRICT_LITERALS "
                                                 "refuses them instead.")
    rewritten_examples: list[RewrittenLiteral] = Field(default_factory=list, description="Up to five of them.")


class NodeOut(BaseModel):
    id: str
    curie: str
    label: str | None = None


class EdgeOut(BaseModel):
    relation: NodeOut
    entity: NodeOut


class EntityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=500)
    id: str | None = Field(None, description="IRI or CURIE to give it (default: one made from the label)")
    type: str | None = Field(None, description="IRI or CURIE of its class")


class EntityMatch(BaseModel):
    id: str
    curie: str
    label: str | None = None
    matched: str = Field(description="The (folded) label or alias that matched.")
    score: float = Field(description="1 for the exact name; less for a name containing it or spelled close to it.")


class EntityOut(BaseModel):
    id: str
    curie: str
    labels: list[str]
    classes: list[str] = Field(description="IRIs of the entity's rdf:type classes.")
    hypernyms: list[str] = Field(description="Labels of its classes and their superclasses.")
    outgoing: list[EdgeOut]
    incoming: list[EdgeOut]
    outgoing_total: int = Field(0, description="Facts going out in all (`outgoing` is one page: ?limit=&offset=).")
    incoming_total: int = Field(0, description="Facts coming in, in all.")
