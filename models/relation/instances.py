"""A relation instance: a sentence and two entity mentions given by character offsets.

This is the unit every model in kgrel reads (OpenNRE's ``{'text', 'h': {'pos'}, 't': {'pos'}}``).
FewRel's token form converts to it with `from_fewrel`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kgrel.kg.namespaces import WD
from kgrel.models.relation.sentences import tokenize


class InvalidInstance(ValueError):
    """Text or mention offsets that do not describe two mentions in a sentence."""


@dataclass(frozen=True)
class Mention:
    """A [start, end) character span; `entity` is the IRI of a graph entity it is linked to, if known."""

    start: int
    end: int
    entity: str | None = None


@dataclass(frozen=True)
class RelationInstance:
    text: str
    head: Mention
    tail: Mention

    @property
    def head_text(self) -> str:
        return self.text[self.head.start:self.head.end]

    @property
    def tail_text(self) -> str:
        return self.text[self.tail.start:self.tail.end]


def reverse(instance: RelationInstance) -> RelationInstance:
    """The same sentence with the roles of head and tail swapped: the pair asked the other way round."""
    return RelationInstance(instance.text, instance.tail, instance.head)


def make_instance(text: str, head: Mention, tail: Mention) -> RelationInstance:
    """A checked instance: non-empty text, spans inside it, non-empty, and head and tail apart."""
    if not text or not text.strip():
        raise InvalidInstance("text is empty")
    for name, m in (("head", head), ("tail", tail)):
        if m.start < 0 or m.end > len(text) or m.start >= m.end:
            raise InvalidInstance(
                f"{name} span [{m.start}, {m.end}) is not a non-empty span inside the text of length {len(text)}")
        if not text[m.start:m.end].strip():
            raise InvalidInstance(f"{name} span [{m.start}, {m.end}) covers only whitespace")
    if head.start < tail.end and tail.start < head.end:
        raise InvalidInstance(
            f"head [{head.start}, {head.end}) and tail [{tail.start}, {tail.end}) overlap; "
            "they must be two distinct mentions")
    return RelationInstance(text, head, tail)


def _token_span(positions: Sequence, n_tokens: int, name: str) -> tuple[int, int]:
    """First and last token index of a FewRel mention (its first occurrence)."""
    try:
        first = positions[0]
        indices = [int(i) for i in (first if isinstance(first, Sequence) else positions)]
    except (TypeError, ValueError, IndexError):
        raise InvalidInstance(f"{name}: token positions must be a list of lists of integers") from None
    if not indices or min(indices) < 0 or max(indices) >= n_tokens:
        raise InvalidInstance(f"{name}: token positions {indices} are outside the {n_tokens} tokens")
    return min(indices), max(indices)


def from_fewrel(item: Mapping) -> RelationInstance:
    """Convert FewRel's ``{"tokens", "h": [name, id, [[i, ...]]], "t": [...]}``: tokens are joined by spaces."""
    tokens = item.get("tokens")
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise InvalidInstance("tokens must be a non-empty list of strings")
    spans = []
    for key in ("h", "t"):
        mention = item.get(key)
        if not isinstance(mention, list | tuple) or len(mention) < 3:
            raise InvalidInstance(f"{key} must be [name, id, [[token positions]]]")
        spans.append(_token_span(mention[2], len(tokens), key))
    starts, text = [], ""
    for token in tokens:
        if text:
            text += " "
        starts.append(len(text))
        text += token
    (hs, he), (ts, te) = spans
    # FewRel names entities by Wikidata id; as IRIs they can be linked to a graph.
    entity_ids = [WD + item[k][1] if isinstance(item[k][1], str) and re.fullmatch(r"Q\d+", item[k][1]) else None
                  for k in ("h", "t")]
    head = Mention(starts[hs], starts[he] + len(tokens[he]), entity_ids[0])
    tail = Mention(starts[ts], starts[te] + len(tokens[te]), entity_ids[1])
    return make_instance(text, head, tail)


def to_fewrel(instance: RelationInstance, head_id: str = "", tail_id: str = "") -> dict:
    """FewRel's token form: word tokens, and the token positions of each mention."""
    tokens = tokenize(instance.text)

    def positions(m: Mention) -> list[int]:
        inside = [i for i, t in enumerate(tokens) if t.start < m.end and t.end > m.start]
        if not inside:
            raise InvalidInstance(f"mention [{m.start}, {m.end}) covers no token")
        return inside

    def short(entity: str | None, given: str) -> str:
        if given:
            return given
        return entity[len(WD):] if entity and entity.startswith(WD) else (entity or "")

    return {"tokens": [t.text for t in tokens],
            "h": [instance.head_text, short(instance.head.entity, head_id), [positions(instance.head)]],
            "t": [instance.tail_text, short(instance.tail.entity, tail_id), [positions(instance.tail)]]}


def instance_from_record(record) -> RelationInstance:
    """A stored example (kg.examples.ExampleRecord) as the instance the model reads."""
    return make_instance(record.text, Mention(record.head_start, record.head_end, record.head_entity),
                         Mention(record.tail_start, record.tail_end, record.tail_entity))

