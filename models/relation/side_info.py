"""Side information rendered as text for the encoder."""

from __future__ import annotations

from kgrel.kg.ontology import RelationInfo


def relation_text(info: RelationInfo) -> str:
    """One line a sentence encoder reads well: label, synonyms, description, argument classes."""
    parts = [info.label]
    if info.aliases:
        parts[0] += " (" + ", ".join(info.aliases[:8]) + ")"
    if info.description and info.description.lower() != "no description defined":
        parts.append(info.description)
    if info.domain:
        parts.append("subject: " + ", ".join(info.domain[:4]))
    if info.range:
        parts.append("object: " + ", ".join(info.range[:4]))
    return ". ".join(parts)
