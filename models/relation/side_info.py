"""Side information rendered as text for the encoder."""

from __future__ import annotations

from kgrel.kg.ontology import RelationInfo


def relation_text(info: RelationInfo) -> str:
    """One line a sentence encoder reads well: label, synonyms, description.

    The domain and range classes stay out: the reader is trained on label and description alone, and classes
    appended to that text (a graph with facts gives every relation observed ones) moved each description
    away from where training put it (Re-DocRED, graph holding facts, K = 0: recall 0.45 -> 0.19 with graph
    evidence off). Classes are weighed as evidence instead (`models.fusion.evidence.hypernym_evidence`).
    """
    parts = [info.label]
    if info.aliases:
        parts[0] += " (" + ", ".join(info.aliases[:8]) + ")"
    if info.description and info.description.lower() != "no description defined":
        parts.append(info.description)
    return ". ".join(parts)
