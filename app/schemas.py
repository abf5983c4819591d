"""Request and response bodies of the REST API."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from models.instances import InvalidInstance, Mention, RelationInstance, from_fewrel, make_instance


class SpanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: int = Field(ge=0, description="Character offset of the first character.")
    end: int = Field(ge=0, description="Character offset just past the last character.")
    entity: str | None = Field(None, description="IRI or CURIE of the graph entity this mention names.")


class InstanceIn(BaseModel):
    """A sentence with two mentions: `text` + `head` + `tail` (character offsets), or FewRel's
    `tokens` + `h` + `t` (token positions)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Marie Curie was born in Warsaw.", "head": {"start": 0, "end": 11},
         "tail": {"start": 24, "end": 30}}]})
    text: str | None = None
    head: SpanIn | None = None
    tail: SpanIn | None = None
    tokens: list[str] | None = None
    h: list | None = None
    t: list | None = None

    def to_instance(self, resolve: Callable[[str], str]) -> RelationInstance:
        """The checked instance; `resolve` expands entity CURIEs. Raises InvalidInstance."""
        char_form = self.text is not None or self.head is not None or self.tail is not None
        token_form = self.tokens is not None or self.h is not None or self.t is not None
        if char_form == token_form:
            raise InvalidInstance("give either text + head + tail (character offsets) "
                                  "or tokens + h + t (FewRel token form), not both or neither")
        if token_form:
            return from_fewrel({"tokens": self.tokens, "h": self.h, "t": self.t})
        if self.text is None or self.head is None or self.tail is None:
            raise InvalidInstance("text, head and tail are all required")
        head, tail = (Mention(s.start, s.end, resolve(s.entity) if s.entity else None) for s in (self.head, self.tail))
        return make_instance(self.text, head, tail)


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


class PredictOut(BaseModel):
    predictions: list[PredictionOut]
    none_of_the_above: bool


class RelationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"id": "ex:foundedBy", "label": "founded by", "aliases": ["founder", "established by"],
         "description": "the person or organization that founded the subject organization"}]})
    id: str = Field(min_length=1, description="IRI or CURIE of the relation.")
    label: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list, description="Synonyms, written as skos:altLabel.")
    description: str = ""
    domain: list[str] = Field(default_factory=list, description="Classes of the subject (IRIs or CURIEs).")
    range: list[str] = Field(default_factory=list, description="Classes of the object (IRIs or CURIEs).")


class RelationOut(BaseModel):
    id: str
    curie: str
    label: str
    aliases: list[str]
    description: str
    domain: list[str]
    range: list[str]
    examples: int


class MentionOut(BaseModel):
    start: int
    end: int
    text: str
    entity: str | None = None


class ExampleOut(BaseModel):
    id: str
    relation: str
    text: str
    head: MentionOut
    tail: MentionOut
    created: str | None = None
    source: str | None = None


class ExamplesAdded(BaseModel):
    added: int
    ids: list[str]


class IngestOut(BaseModel):
    added: int = Field(description="Triples that were not in the store before.")
    parsed: int = Field(description="Triples read from the body.")
    graph: str | None = None


class ErrorOut(BaseModel):
    detail: str
