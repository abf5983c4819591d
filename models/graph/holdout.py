"""Entities that arrive after training, as a measurement: hold some entities out of the training facts,
bring their facts back afterwards (as an ingest would), and ask about them.

`hold_out_entities` draws the entities among those of the test split; every training fact that touches
one of them leaves the training graph (`base`) and comes back as `arrived`. The test triples touching a
held-out entity are the questions. `bench/new_entities.py` asks them of the shallow embeddings trained
on `base` with the newcomers folded in (`models.graph.embeddings.fold_in`, what the service does), of
the same embeddings retrained on everything, and of ULTRA over the whole graph with no training.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kgrel.models.graph.embeddings import KGEmbeddings

Triple = tuple[str, str, str]


@dataclass
class HoldOut:
    held_out: set[str]
    base: list[Triple]  # training facts that touch no held-out entity: what the embeddings train on
    arrived: list[Triple]  # training facts that touch one: ingested after training
    test: list[Triple]  # test triples that touch a held-out entity, between entities of the training graph
    dropped: int  # such test triples left out: an entity outside the training graph, or a relation only `arrived` has

    def facts_of(self) -> dict[str, list[Triple]]:
        """Every training fact of each entity (base and arrived), as `KGEmbeddings.vector` folds in from."""
        out: dict[str, list[Triple]] = defaultdict(list)
        for row in self.base + self.arrived:
            out[row[0]].append(row)
            if row[2] != row[0]:
                out[row[2]].append(row)
        return out


def hold_out_entities(train: Sequence[Triple], test: Sequence[Triple], share: float, seed: int = 0) -> HoldOut:
    """Hold out `share` of the test split's entities (those in the training graph), drawn with `seed`."""
    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    entities = {e for h, _, t in train for e in (h, t)}
    candidates = sorted({e for h, _, t in test for e in (h, t)} & entities)
    held = set(random.Random(seed).sample(candidates, max(1, round(share * len(candidates)))))
    base = [x for x in train if x[0] not in held and x[2] not in held]
    arrived = [x for x in train if x[0] in held or x[2] in held]
    base_relations = {r for _, r, _ in base}
    touching = [x for x in test if x[0] in held or x[2] in held]
    kept = [x for x in touching if x[0] in entities and x[2] in entities and x[1] in base_relations]
    return HoldOut(held, base, arrived, kept, len(touching) - len(kept))


def entity_table(kg: KGEmbeddings, nodes: Sequence[str],
                 facts: dict[str, list[Triple]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The vectors of `nodes`, in order: trained rows as they are, the others folded in from their facts
    with trained entities; zeros where an entity has no such fact (the mask says which rows are vectors)."""
    dim = kg.entities.shape[1]
    table = torch.zeros(len(nodes), dim)
    embedded = torch.zeros(len(nodes), dtype=torch.bool)
    for i, iri in enumerate(nodes):
        vec = kg.vector(iri, lambda e: facts.get(e, []))
        if vec is not None:
            table[i], embedded[i] = vec, True
    return table, embedded


def type_agreement(table: torch.Tensor, nodes: Sequence[str], asked: Iterable[str], candidates: torch.Tensor,
                   types: dict[str, set[str]], k: int = 10) -> dict[str, float | int]:
    """How well nearest neighbours by cosine (as `/kg/entities/{id}/similar` finds them) share a class: for
    each asked entity with classes and a vector, the share of its k nearest `candidates` (a mask over
    `nodes`) that share one of its classes, averaged; beside it the same share over all candidates, what
    k drawn at random would give."""
    index = {iri: i for i, iri in enumerate(nodes)}
    normed = F.normalize(table, dim=1)
    pool = [i for i in candidates.nonzero().flatten().tolist() if types.get(nodes[i])]
    pool_t = torch.tensor(pool, dtype=torch.long)
    near, chance = [], []
    for iri in asked:
        i = index.get(iri)
        mine = types.get(iri)
        if i is None or not mine or not normed[i].any():
            continue
        others = pool_t[pool_t != i]
        scores = normed[others] @ normed[i]
        top = others[torch.topk(scores, min(k, len(others))).indices].tolist()
        near.append(sum(bool(types[nodes[j]] & mine) for j in top) / len(top))
        chance.append(sum(bool(types[nodes[j]] & mine) for j in others.tolist()) / len(others))
    return {"entities": len(near), f"share_of_{k}_nearest_sharing_a_class": round(sum(near) / max(1, len(near)), 4),
            "share_at_random": round(sum(chance) / max(1, len(chance)), 4)}
