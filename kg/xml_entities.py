"""Refuse RDF/XML whose DTD entities could expand without bound, before the parser sees it.

Oxigraph's RDF/XML parser expands internal entities, nested ones included, so a few hundred bytes of
"billion laughs" become gigabytes. Ontology editors (Protégé, TopBraid) do declare entities, but
only as abbreviations of namespace IRIs: `<!ENTITY owl "http://www.w3.org/2002/07/owl#">`. So
those are kept, and what only an attack needs is refused:

- an entity whose value refers to another entity (nesting is what multiplies);
- external (SYSTEM/PUBLIC) and parameter (%) entities;
- a document whose references would expand it past a budget (4x its size plus 16 MiB).
"""

from __future__ import annotations

import re

from kgrel.kg.errors import UnsafeInput

_DOCTYPE = re.compile(rb"<!DOCTYPE\s[^\[>]*\[(?P<subset>.*?)\]\s*>", re.S)
_ENTITY = re.compile(rb"<!ENTITY\s+(?P<pe>%\s+)?(?P<name>[^\s%]+)\s+(?P<rest>.*?)>", re.S)
_VALUE = re.compile(rb"""^(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')\s*$""", re.S)
_REFERENCE = re.compile(rb"[&%][A-Za-z_:][\w.:-]*;")
_PROLOG_BYTES = 1 << 20  # a DOCTYPE must come before the root element; ontologies' are a few KiB


def check_entities(data: bytes) -> None:
    """Raise UnsafeInput when the document's DTD could blow up; return quietly otherwise."""
    head = data[:_PROLOG_BYTES]
    if b"<!DOCTYPE" not in head:
        return
    doctype = _DOCTYPE.search(head)
    if doctype is None:
        if b"<!ENTITY" in head:
            raise UnsafeInput("RDF/XML: could not read the DOCTYPE's internal subset; refusing its entities")
        return
    values: dict[bytes, bytes] = {}
    for match in _ENTITY.finditer(doctype["subset"]):
        name = match["name"].decode("utf-8", "replace")
        if match["pe"]:
            raise UnsafeInput(f"RDF/XML: parameter entity %{name}; is refused (DTD processing is not supported)")
        value = _VALUE.match(match["rest"].strip())
        if value is None:
            raise UnsafeInput(f"RDF/XML: entity {name} is external (SYSTEM or PUBLIC): refused, "
                              "kgrel never fetches files or URLs named in a document")
        text = value["dq"] if value["dq"] is not None else value["sq"]
        if _REFERENCE.search(text):
            raise UnsafeInput(f"RDF/XML: entity {name} refers to another entity; nested entities are refused "
                              "because their expansion can exhaust memory (declare each one in full)")
        values[match["name"]] = text
    body = data[doctype.end():]
    expansion = sum(body.count(b"&" + name + b";") * len(text) for name, text in values.items())
    budget = 4 * len(data) + (16 << 20)
    if expansion > budget:
        raise UnsafeInput(f"RDF/XML: entity references would expand the document by {expansion:,} bytes, "
                          f"over the limit of {budget:,}")
