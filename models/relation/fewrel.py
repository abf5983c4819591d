"""FewRel-format files: labelled sentences per relation, and side-information files."""

from __future__ import annotations

import json
from pathlib import Path

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.instances import InvalidInstance, RelationInstance, from_fewrel


def load_fewrel(path: str | Path) -> dict[str, list[RelationInstance]]:
    """``{relation_id: [instance, ...]}`` from a FewRel JSON file; a bad item is reported with its place."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object {{relation_id: [instances]}}")
    out: dict[str, list[RelationInstance]] = {}
    for relation, items in data.items():
        if not isinstance(items, list):
            raise ValueError(f"{path}: relation {relation!r} must map to a list of instances")
        instances = []
        for i, item in enumerate(items):
            try:
                instances.append(from_fewrel(item))
            except InvalidInstance as e:
                raise ValueError(f"{path}: relation {relation!r}, instance {i}: {e}") from None
        out[relation] = instances
    return out


def load_side_info(path: str | Path) -> dict[str, RelationInfo]:
    """Relation side information from ``{id: [label, description]}`` or ``{id: {label, description, aliases}}``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by relation id")
    out = {}
    for rid, value in data.items():
        if isinstance(value, list | tuple):
            label = str(value[0]) if value else rid
            description = str(value[1]) if len(value) > 1 else ""
            out[rid] = RelationInfo(iri=rid, label=label, description=description)
        elif isinstance(value, dict):
            aliases = value.get("aliases") or []
            out[rid] = RelationInfo(iri=rid, label=str(value.get("label") or rid),
                                    aliases=[str(a) for a in aliases],
                                    description=str(value.get("description") or ""),
                                    domain=[str(d) for d in value.get("domain") or []],
                                    range=[str(r) for r in value.get("range") or []],
                                    symmetric=bool(value.get("symmetric", False)),
                                    inverse=str(value["inverse"]) if value.get("inverse") else None)
        else:
            raise ValueError(f"{path}: side information of {rid!r} must be [label, description] or an object")
    return out
