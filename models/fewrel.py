"""FewRel-format data: loading, side-information files, and seeded N-way K-shot episodes."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from kg.ontology import RelationInfo
from models.instances import InvalidInstance, RelationInstance, from_fewrel


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
                                    range=[str(r) for r in value.get("range") or []])
        else:
            raise ValueError(f"{path}: side information of {rid!r} must be [label, description] or an object")
    return out


@dataclass
class Episode:
    relations: list[str]  # the N relations, in class order
    support: list[list[int]]  # K instance indices per relation (indices into data[relation])
    query: list[int]  # one query instance index per relation


def sample_episodes(data: dict[str, list[RelationInstance]], n_way: int, k_shot: int, episodes: int,
                    seed: int) -> list[Episode]:
    """Seeded episodes: N relations, K support and one query instance per relation."""
    relations = sorted(r for r, items in data.items() if len(items) >= k_shot + 1)
    if len(relations) < n_way:
        raise ValueError(f"{n_way}-way {k_shot}-shot needs {n_way} relations with at least {k_shot + 1} "
                         f"instances each; the data has {len(relations)}")
    rng = random.Random(seed)
    out = []
    for _ in range(episodes):
        chosen = rng.sample(relations, n_way)
        support, query = [], []
        for r in chosen:
            picked = rng.sample(range(len(data[r])), k_shot + 1)
            support.append(picked[:k_shot])
            query.append(picked[k_shot])
        out.append(Episode(chosen, support, query))
    return out
