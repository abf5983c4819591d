"""DocRED-format files (DocRED, Re-DocRED): documents with every entity's mentions and types, and their facts.

Tokens are joined into plain text the way a curator's documents read ("Mediaș, Transylvania"), and every
mention becomes a character span of that text, so a document is read exactly as a pasted one would be.
Facts are (head entity, relation, tail entity); `withheld` pairs hold facts of relations that are kept
back for testing: they are neither positives nor negatives.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.documents import Document, DocumentEntity
from kgrel.models.relation.sentences import Span

# DocRED's entity types, as the class labels a graph would give them.
TYPE_LABELS = {"PER": "person", "ORG": "organization", "LOC": "location", "TIME": "time", "NUM": "number",
               "MISC": "miscellaneous"}

# Date- and number-valued relations, which pid2name.json lacks: their Wikidata labels and descriptions.
WIKIDATA_RELATIONS = {
    "P569": ("date of birth", "date on which the subject was born"),
    "P570": ("date of death", "date on which the subject died"),
    "P571": ("inception", "time when an entity begins to exist; for date of official opening use P1619"),
    "P576": ("dissolved, abolished or demolished date",
             "point in time at which the subject (organisation, building) ceased to exist"),
    "P577": ("publication date", "date or point in time when a work was first published or released"),
    "P580": ("start time", "time an entity begins to exist or a statement starts being valid"),
    "P582": ("end time", "moment when an entity ceases to exist or a statement stops being valid"),
    "P585": ("point in time", "date something took place, existed or a statement was true"),
    "P1198": ("unemployment rate", "portion of a workforce population that is not employed"),
}

# DocRED's 96 relations (Wikidata properties).
DOCRED_RELATIONS = [
    "P6", "P17", "P19", "P20", "P22", "P25", "P26", "P27", "P30", "P31", "P35", "P36", "P37", "P39", "P40", "P50",
    "P54", "P57", "P58", "P69", "P86", "P102", "P108", "P112", "P118", "P123", "P127", "P131", "P136", "P137",
    "P140", "P150", "P155", "P156", "P159", "P161", "P162", "P166", "P170", "P171", "P172", "P175", "P176", "P178",
    "P179", "P190", "P194", "P205", "P206", "P241", "P264", "P272", "P276", "P279", "P355", "P361", "P364", "P400",
    "P403", "P449", "P463", "P488", "P495", "P527", "P551", "P569", "P570", "P571", "P576", "P577", "P580", "P582",
    "P585", "P607", "P674", "P676", "P706", "P710", "P737", "P740", "P749", "P800", "P807", "P840", "P937", "P1001",
    "P1056", "P1198", "P1336", "P1344", "P1365", "P1366", "P1376", "P1412", "P1441", "P3373",
]

_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "}", "%", "'s", "n't", "'re", "'ve", "'ll", "'d", "'m",
                    "'"}
_NO_SPACE_AFTER = {"(", "[", "{", "$", "#"}


@dataclass
class LabelledDocument:
    title: str
    document: Document
    types: list[str]  # DocRED type of each entity
    facts: set[tuple[int, str, int]] = field(default_factory=set)  # (head entity, relation id, tail entity)
    withheld: set[tuple[int, int]] = field(default_factory=set)  # pairs holding facts kept back for testing
    evidence: dict[tuple[int, str, int], list[int]] = field(default_factory=dict)  # sentences stating each fact

    def in_sentence(self, fact: tuple[int, str, int]) -> bool:
        """Whether the fact's two entities are mentioned in one sentence."""
        sentences = self.document.entity_sentences()
        return bool(sentences[fact[0]] & sentences[fact[2]])


def detokenize(sentences: list[list[str]]) -> tuple[str, list[Span], list[list[tuple[int, int]]]]:
    """Text of tokenised sentences, their spans and each token's [start, end) in the text."""
    text, spans, offsets = "", [], []
    quote_open = False
    for tokens in sentences:
        if text:
            text += " "
        start = len(text)
        positions = []
        glue = True  # no space before the first token of a sentence
        for token in tokens:
            closing_quote = token == '"' and quote_open
            if not glue and token not in _NO_SPACE_BEFORE and not closing_quote:
                text += " "
            positions.append((len(text), len(text) + len(token)))
            text += token
            if token == '"':
                quote_open = not quote_open
                glue = quote_open
            else:
                glue = token in _NO_SPACE_AFTER
        spans.append(Span(start, len(text), text[start:]))
        offsets.append(positions)
    return text, spans, offsets


def from_docred(item: dict, type_classes: bool = True) -> LabelledDocument:
    """One DocRED document; entities carry their type's class label when `type_classes`."""
    text, sentences, offsets = detokenize(item["sents"])
    entities, types = [], []
    for vertex in item["vertexSet"]:
        mentions = []
        for m in vertex:
            s, (a, b) = m["sent_id"], m["pos"]
            mentions.append((offsets[s][a][0], offsets[s][b - 1][1]))
        kind = vertex[0]["type"]
        types.append(kind)
        entities.append(DocumentEntity(tuple(sorted(set(mentions))), None,
                                       (TYPE_LABELS.get(kind, kind.lower()),) if type_classes else ()))
    doc = LabelledDocument(item.get("title", ""), Document(text, entities, sentences), types)
    for label in item.get("labels", []):
        fact = (label["h"], label["r"], label["t"])
        doc.facts.add(fact)
        doc.evidence[fact] = list(label.get("evidence", []))
    doc.withheld = {(h, t) for h, t in item.get("withheld_pairs", [])}
    return doc


def load_docred(path: str | Path, type_classes: bool = True) -> list[LabelledDocument]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of DocRED documents")
    return [from_docred(item, type_classes) for item in data]


def relation_infos(side_info: str | Path, relations: list[str]) -> dict[str, RelationInfo]:
    """Side information of each relation: from a side-information file (pid2name.json's {id: [label,
    description]}, or `fewrel.load_side_info`'s other form), else `WIKIDATA_RELATIONS`, else the bare id."""
    from kgrel.models.relation.fewrel import load_side_info

    known = load_side_info(side_info)
    out = {}
    for r in relations:
        if r in known:
            out[r] = known[r]
        else:
            label, description = WIKIDATA_RELATIONS.get(r, (r, ""))
            out[r] = RelationInfo(iri=r, label=label, description=description)
    return out


@dataclass
class DocumentSplit:
    train: list[LabelledDocument]
    dev: list[LabelledDocument]


def split_documents(documents: list[LabelledDocument], dev_count: int, seed: int = 0) -> DocumentSplit:
    """Split by document: `dev_count` documents drawn with `seed` are held out, the rest train."""
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    return DocumentSplit([documents[i] for i in sorted(order[dev_count:])], [documents[i] for i in order[:dev_count]])


def split_relations(relations: list[str], count: int, seed: int = 0, always: tuple[str, ...] = ()) -> list[str]:
    """Relations held out of training (relation-disjoint dev): those of `always` that are present, plus
    others drawn with `seed` up to `count`."""
    held = [r for r in always if r in relations]
    rest = sorted(r for r in relations if r not in held)
    return sorted(held + random.Random(seed).sample(rest, max(0, min(len(rest), count - len(held)))))
