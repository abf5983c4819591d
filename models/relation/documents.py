"""A document as the relation model reads it: its text, its sentences and its entities, each entity with
every mention of it.

Facts hold between entities, not mentions: "Wilfried Schneider" and "Schneider" two sentences later are one
entity, and the model pools all of its mentions (`models.relation.reader`). A relation instance (one sentence,
a head and a tail mention) is the smallest document: two entities with one mention each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.sentences import Span, split_sentences

MENTION_MARKER = "*"  # around every mention (as in ATLOP): the encoder sees where each mention is


@dataclass(frozen=True)
class DocumentEntity:
    """An entity of a document: the [start, end) character spans of its mentions, the graph entity it is
    linked to (if any) and the labels of its classes (types as evidence; empty when the graph has none)."""

    mentions: tuple[tuple[int, int], ...]
    iri: str | None = None
    classes: tuple[str, ...] = ()


@dataclass
class Document:
    text: str
    entities: list[DocumentEntity]
    sentences: list[Span] = field(default_factory=list)

    def __post_init__(self):
        if not self.sentences:
            self.sentences = split_sentences(self.text) or [Span(0, len(self.text), self.text)]

    def sentence_of(self, position: int) -> int:
        """Index of the sentence holding character `position` (the nearest before it between sentences)."""
        found = 0
        for i, s in enumerate(self.sentences):
            if s.start <= position:
                found = i
            else:
                break
        return found

    def entity_sentences(self) -> list[set[int]]:
        """The sentences each entity is mentioned in."""
        return [{self.sentence_of(start) for start, _ in e.mentions} for e in self.entities]


def instance_document(instance: RelationInstance, head_classes: Sequence[str] = (),
                      tail_classes: Sequence[str] = ()) -> Document:
    """A relation instance as a document of one sentence and two entities (head 0, tail 1)."""
    text = instance.text
    return Document(text, [DocumentEntity(((instance.head.start, instance.head.end),), instance.head.entity,
                                          tuple(head_classes)),
                           DocumentEntity(((instance.tail.start, instance.tail.end),), instance.tail.entity,
                                          tuple(tail_classes))],
                    [Span(0, len(text), text)])


@dataclass
class MarkedDocument:
    """A document's text with a marker before and after every mention, and where each mention went.

    mentions[e] lists entity e's mentions as [start, end) character spans of the marked text, each from its
    opening marker to the end of the mention's words; sentence_starts[i] is sentence i's start there."""

    text: str
    mentions: list[list[tuple[int, int]]]
    sentence_starts: list[int]


def mark_document(document: Document) -> MarkedDocument:
    """Insert `MENTION_MARKER` around every mention; a mention overlapping an earlier one is kept unmarked
    (its words are still pooled)."""
    # The longest of mentions starting together is marked (a nested one inside it is not).
    spans = sorted(((start, end, e) for e, entity in enumerate(document.entities) for start, end in entity.mentions),
                   key=lambda span: (span[0], -span[1], span[2]))
    inserts: list[tuple[int, int, str]] = []  # (original position, order at that position, text inserted)
    marked_spans: dict[int, tuple[int, int]] = {}  # span index -> its (opening, closing) insert numbers
    last_end = -1
    for n, (start, end, _) in enumerate(spans):
        if start >= last_end:
            # A closing marker goes before an opening one at the same position (adjacent mentions).
            marked_spans[n] = (len(inserts), len(inserts) + 1)
            inserts += [(start, 1, MENTION_MARKER + " "), (end, 0, " " + MENTION_MARKER)]
            last_end = end
    order = sorted(range(len(inserts)), key=lambda i: inserts[i][:2])
    at_marked: dict[int, int] = {}  # insert number -> where its text starts in the marked text
    out, cursor, length = [], 0, 0
    for i in order:
        position, _, piece = inserts[i]
        out.append(document.text[cursor:position])
        length += position - cursor
        at_marked[i] = length
        out.append(piece)
        length += len(piece)
        cursor = position
    out.append(document.text[cursor:])

    def shift(position: int, opening_too: bool = False) -> int:
        """Where original `position` lands: after every insert before it (and the opening markers at it)."""
        return position + sum(len(piece) for at, order, piece in inserts
                              if at < position or (opening_too and at == position and order == 1))

    mentions: list[list[tuple[int, int]]] = [[] for _ in document.entities]
    for n, (start, end, e) in enumerate(spans):
        if n in marked_spans:
            opening, closing = marked_spans[n]
            mentions[e].append((at_marked[opening], at_marked[closing]))
        else:
            mentions[e].append((shift(start, opening_too=True), shift(end)))
    return MarkedDocument("".join(out), mentions, [shift(s.start) for s in document.sentences])
