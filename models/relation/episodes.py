"""N-way K-shot episodes: seeded sampling, and encoding each sentence an episode set uses once."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.evidence import Evidence, EvidenceSource
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.prototypes import PrototypeSet
from kgrel.models.relation.side_info import relation_text


@dataclass
class Episode:
    relations: list[str]  # the N relations, in class order
    support: list[list[int]]  # K instance indices per relation (indices into data[relation])
    query: list[int]  # one query instance index per relation
    # Query slots whose query comes from a relation outside the episode (answer: none of the above):
    # slot -> (relation, instance index).
    nota: dict[int, tuple[str, int]] = field(default_factory=dict)

    def query_items(self) -> list[tuple[str, int]]:
        """(relation, instance index) of each query, none-of-the-above replacements included."""
        return [self.nota.get(c, (r, q)) for c, (r, q) in enumerate(zip(self.relations, self.query, strict=True))]

    def gold(self) -> list[int]:
        """Each query's class: its relation's position, or N for none of the above."""
        return [len(self.relations) if c in self.nota else c for c in range(len(self.relations))]


def sample_episodes(data: dict[str, list[RelationInstance]], n_way: int, k_shot: int, episodes: int,
                    seed: int, nota_rate: float = 0.0) -> list[Episode]:
    """Seeded episodes: N relations, K support and one query instance per relation.

    With `nota_rate` (FewRel 2.0), each query is, with that probability, replaced by a sentence of a
    relation outside the episode, whose answer is none of the above.
    """
    if not 0.0 <= nota_rate < 1.0:
        raise ValueError(f"nota_rate must be in [0, 1), got {nota_rate}")
    relations = sorted(r for r, items in data.items() if len(items) >= k_shot + 1)
    if len(relations) < n_way:
        raise ValueError(f"{n_way}-way {k_shot}-shot needs {n_way} relations with at least {k_shot + 1} "
                         f"instances each; the data has {len(relations)}")
    if nota_rate and len([r for r in data if data[r]]) <= n_way:
        raise ValueError(f"none-of-the-above queries need relations outside the {n_way} of an episode; "
                         f"the data has {len(data)}")
    rng = random.Random(seed)
    out = []
    for _ in range(episodes):
        chosen = rng.sample(relations, n_way)
        support, query = [], []
        for r in chosen:
            picked = rng.sample(range(len(data[r])), k_shot + 1)
            support.append(picked[:k_shot])
            query.append(picked[k_shot])
        nota = {}
        if nota_rate:  # draws nothing when off, so episodes without it stay as they were
            outside = [r for r in sorted(data) if r not in chosen and data[r]]
            for c in range(n_way):
                if rng.random() < nota_rate:
                    r = rng.choice(outside)
                    nota[c] = (r, rng.randrange(len(data[r])))
        out.append(Episode(chosen, support, query, nota))
    return out


def embed_with_progress(model: RelationModel, instances: list[RelationInstance], desc: str,
                        chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(example views, side views) of many instances, with a progress bar."""
    examples, sides = [], []
    with tqdm(total=len(instances), desc=desc, unit="sent", leave=False) as bar:
        for start in range(0, len(instances), chunk):
            e, s = model.embed_instances(instances[start:start + chunk])
            examples.append(e)
            sides.append(s)
            bar.update(len(e))
    if not examples:
        return model.embed_instances([])
    return torch.cat(examples), torch.cat(sides)


def describe_relations(model: RelationModel, relations: list[str],
                       side_info: dict[str, RelationInfo] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Description views for relations and a mask of those with side information."""
    infos = [side_info.get(r) if side_info else None for r in relations]
    has_side = torch.tensor([i is not None for i in infos])
    texts = [relation_text(i) if i is not None else r for r, i in zip(relations, infos, strict=True)]
    return model.embed_descriptions(texts), has_side


class EpisodeEncoder:
    """Encodes each sentence used by a list of episodes once, and builds an episode's prototypes."""

    def __init__(self, model: RelationModel, data: dict[str, list[RelationInstance]], episodes: list[Episode],
                 side_info: dict[str, RelationInfo] | None, desc: str = "encoding sentences",
                 evidence: EvidenceSource | None = None):
        needed = sorted({(r, i) for ep in episodes
                         for r, s, q in zip(ep.relations, ep.support, ep.query, strict=True) for i in [*s, q]}
                        | {item for ep in episodes for item in ep.nota.values()})
        self.row = {key: n for n, key in enumerate(needed)}
        self.example_v, self.side_v = embed_with_progress(model, [data[r][i] for r, i in needed], desc)
        relations = sorted(data)
        self.rel_row = {r: n for n, r in enumerate(relations)}
        self.description, self.has_side = describe_relations(model, relations, side_info)
        self.all_evidence = None if evidence is None else evidence(model, needed, relations, self.description)

    def evidence(self, relations: list[str], query: list[int]) -> Evidence | None:
        if self.all_evidence is None:
            return None
        rows = torch.tensor([self.row[(r, i)] for r, i in zip(relations, query, strict=True)])
        return self.all_evidence.select(rows, torch.tensor([self.rel_row[r] for r in relations]))

    def prototypes(self, relations: list[str], support: list[list[int]]) -> PrototypeSet:
        k = len(support[0]) if support else 0
        idx = torch.tensor([self.rel_row[r] for r in relations])
        if k:
            example_sum = torch.stack([self.example_v[[self.row[(r, i)] for i in s]].sum(0)
                                       for r, s in zip(relations, support, strict=True)])
        else:
            example_sum = torch.zeros(len(relations), self.example_v.shape[1])
        return PrototypeSet(relations, relations, self.description[idx], example_sum,
                            torch.full((len(relations),), k), self.has_side[idx])

    def queries(self, relations: list[str], query: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.row[(r, i)] for r, i in zip(relations, query, strict=True)]
        return self.example_v[rows], self.side_v[rows]
