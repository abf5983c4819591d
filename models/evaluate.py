"""Few-shot and zero-shot evaluation on FewRel-format files (GUIDE section 3 protocol)."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

from kg.ontology import RelationInfo
from models.fewrel import sample_episodes
from models.graph_evidence import (
    Evidence,
    GraphContext,
    LinkedMention,
    RelationArguments,
    RelationGraphProfile,
    gather_evidence,
)
from models.instances import RelationInstance
from models.proto import PrototypeSet, PrototypicalClassifier
from models.relation_model import RelationModel
from models.side_info import relation_text


def _embed(model: RelationModel, instances: list[RelationInstance], desc: str,
           chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    examples, sides = [], []
    with tqdm(total=len(instances), desc=desc, unit="sent", leave=False) as bar:
        for start in range(0, len(instances), chunk):
            e, s = model.embed_instances(instances[start:start + chunk])
            examples.append(e)
            sides.append(s)
            bar.update(len(e))
    return torch.cat(examples), torch.cat(sides)


def _descriptions(model: RelationModel, relations: list[str],
                  side_info: dict[str, RelationInfo] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Description views for relations and a mask of those with side information."""
    infos = [side_info.get(r) if side_info else None for r in relations]
    has_side = torch.tensor([i is not None for i in infos])
    texts = [relation_text(i) if i is not None else r for r, i in zip(relations, infos, strict=True)]
    return model.embed_descriptions(texts), has_side


@dataclass
class GraphInputs:
    """What a graph adds to an evaluation: a context per instance (data[relation][i]) and the relations'
    graph profile, in sorted relation order (None when no relation has facts in the graph)."""

    contexts: dict[tuple[str, int], GraphContext]
    profile: RelationGraphProfile | None = None


class EpisodeEncoder:
    """Encodes each sentence used by a list of episodes once, and builds an episode's prototypes."""

    def __init__(self, model: RelationModel, data: dict[str, list[RelationInstance]], episodes: list,
                 side_info: dict[str, RelationInfo] | None, desc: str = "encoding sentences",
                 graph: GraphInputs | None = None):
        needed = sorted({(r, i) for ep in episodes
                         for r, s, q in zip(ep.relations, ep.support, ep.query, strict=True) for i in [*s, q]})
        self.row = {key: n for n, key in enumerate(needed)}
        self.example_v, self.side_v = _embed(model, [data[r][i] for r, i in needed], desc)
        relations = sorted(data)
        self.rel_row = {r: n for n, r in enumerate(relations)}
        self.description, self.has_side = _descriptions(model, relations, side_info)
        self.graph_evidence = None
        if graph is not None:
            empty = GraphContext(LinkedMention(), LinkedMention())
            contexts = [graph.contexts.get(key, empty) for key in needed]
            self.graph_evidence = gather_evidence(model, contexts, self.description, graph.profile,
                                                  _arguments(model, relations, side_info))

    def evidence(self, relations: list[str], query: list[int]) -> Evidence | None:
        if self.graph_evidence is None:
            return None
        rows = torch.tensor([self.row[(r, i)] for r, i in zip(relations, query, strict=True)])
        return self.graph_evidence.select(rows, torch.tensor([self.rel_row[r] for r in relations]))

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


def _arguments(model: RelationModel, relations: list[str],
               side_info: dict[str, RelationInfo] | None) -> RelationArguments:
    infos = [side_info.get(r) if side_info else None for r in relations]
    return RelationArguments.encode(model, [(i.domain, i.range) if i is not None else ([], []) for i in infos])


def mean_ci95(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / max(1, n - 1)
    return mean, 1.96 * math.sqrt(var / n)


def evaluate_fewshot(model: RelationModel, data: dict[str, list[RelationInstance]], n_way: int, k_shot: int,
                     episodes: int, seed: int, side_info: dict[str, RelationInfo] | None = None,
                     graph: GraphInputs | None = None) -> dict:
    """Mean accuracy and 95% interval over seeded N-way K-shot episodes (one query per class)."""
    started = time.perf_counter()
    eps = sample_episodes(data, n_way, k_shot, episodes, seed)
    encoded = EpisodeEncoder(model, data, eps, side_info, graph=graph)
    classifier = PrototypicalClassifier(model)
    accuracies = []
    for ep in tqdm(eps, desc=f"{n_way}-way {k_shot}-shot", unit="ep", leave=False):
        protos = encoded.prototypes(ep.relations, ep.support)
        scores = classifier.similarity(*encoded.queries(ep.relations, ep.query), protos,
                                       evidence=encoded.evidence(ep.relations, ep.query))
        accuracies.append((scores.argmax(1) == torch.arange(n_way)).float().mean().item())
    accuracy, ci95 = mean_ci95(accuracies)
    return {"task": "fewshot", "n_way": n_way, "k_shot": k_shot, "episodes": episodes, "seed": seed,
            "accuracy": round(accuracy, 4), "ci95": round(ci95, 4), "relations": len(data),
            "side_info": side_info is not None, "graph": graph is not None,
            "seconds": round(time.perf_counter() - started, 1)}


def zeroshot_scores(model: RelationModel, data: dict[str, list[RelationInstance]],
                    side_info: dict[str, RelationInfo], graph: GraphInputs | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused scores of every instance (rows, relation by relation in sorted order) against every
    relation's side-information prototype (columns, sorted), and the gold column of each row."""
    relations = sorted(data)
    missing = [r for r in relations if r not in side_info]
    if missing:
        raise ValueError(f"no side information for relations {missing[:10]}; zero-shot needs a label "
                         "and description for every relation")
    instances = [x for r in relations for x in data[r]]
    gold = torch.tensor([n for n, r in enumerate(relations) for _ in data[r]])
    example_v, side_v = _embed(model, instances, "encoding sentences")
    description, has_side = _descriptions(model, relations, side_info)
    protos = PrototypeSet(relations, relations, description, torch.zeros(len(relations), example_v.shape[1]),
                          torch.zeros(len(relations), dtype=torch.long), has_side)
    evidence = None
    if graph is not None:
        empty = GraphContext(LinkedMention(), LinkedMention())
        contexts = [graph.contexts.get((r, i), empty) for r in relations for i in range(len(data[r]))]
        evidence = gather_evidence(model, contexts, description, graph.profile, _arguments(model, relations, side_info))
    return PrototypicalClassifier(model).similarity(example_v, side_v, protos, evidence=evidence), gold


def evaluate_zeroshot(model: RelationModel, data: dict[str, list[RelationInstance]],
                      side_info: dict[str, RelationInfo], graph: GraphInputs | None = None,
                      n_way: int | None = None, subsets: int = 100, seed: int = 0) -> dict:
    """Every instance classified among all relations of the file from side information alone.

    With `n_way`, among `n_way` relations at a time instead: `subsets` seeded random draws of that many
    relations, each scoring the instances of its relations; accuracy and macro-F1 are averaged over
    the draws (the "zero-shot over 5 unseen relations" setting). The sentences are encoded once.
    """
    started = time.perf_counter()
    if n_way is not None and not 2 <= n_way <= len(data):
        raise ValueError(f"n_way must be between 2 and the number of relations ({len(data)}), not {n_way}")
    scores, gold = zeroshot_scores(model, data, side_info, graph)
    return zeroshot_report(scores, gold, n_way, subsets, seed) | {
        "graph": graph is not None, "seconds": round(time.perf_counter() - started, 1)}


def zeroshot_report(scores: torch.Tensor, gold: torch.Tensor, n_way: int | None = None, subsets: int = 100,
                    seed: int = 0) -> dict:
    """Accuracy and macro-F1 of `zeroshot_scores` output, over all relations or over random n_way subsets."""
    n_relations = scores.shape[1]
    result = {"task": "zeroshot", "relations": n_relations, "instances": gold.numel()}
    if n_way is None:
        pred = scores.argmax(1)
        return result | {"accuracy": round((pred == gold).float().mean().item(), 4),
                         "macro_f1": round(macro_f1(pred, gold, n_relations), 4)}
    # Each (sentence, relation) score depends on that pair alone, so one matrix serves every subset.
    rng = random.Random(seed)
    accuracies, f1s = [], []
    for _ in range(subsets):
        chosen = torch.tensor(sorted(rng.sample(range(n_relations), n_way)))
        rows = torch.isin(gold, chosen)
        local_gold = torch.searchsorted(chosen, gold[rows])
        pred = scores[rows][:, chosen].argmax(1)
        accuracies.append((pred == local_gold).float().mean().item())
        f1s.append(macro_f1(pred, local_gold, n_way))
    f1, f1_ci = mean_ci95(f1s)
    return result | {"n_way": n_way, "subsets": subsets, "seed": seed,
                     "accuracy": round(sum(accuracies) / subsets, 4), "macro_f1": round(f1, 4),
                     "macro_f1_ci95": round(f1_ci, 4)}


def macro_f1(pred: torch.Tensor, gold: torch.Tensor, n_classes: int) -> float:
    f1s = []
    for c in range(n_classes):
        tp = ((pred == c) & (gold == c)).sum().item()
        fp = ((pred == c) & (gold != c)).sum().item()
        fn = ((pred != c) & (gold == c)).sum().item()
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / n_classes
