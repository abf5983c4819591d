"""A relation instance as clients send it: character offsets or FewRel's token form."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from kgrel.models.relation.instances import InvalidInstance, Mention, RelationInstance, from_fewrel, make_instance


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
