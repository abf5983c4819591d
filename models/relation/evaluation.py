"""Few-shot and zero-shot evaluation on FewRel-format files (GUIDE section 3 protocol)."""

from __future__ import annotations

import random
import time

import torch
from tqdm import tqdm

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.episodes import EpisodeEncoder, describe_relations, embed_with_progress, sample_episodes
from kgrel.models.relation.evidence import EvidenceSource
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.prototypes import PrototypeSet, PrototypicalClassifier, none_of_the_above
from kgrel.models.statistics import mean_ci95


def evaluate_fewshot(model: RelationModel, data: dict[str, list[RelationInstance]], n_way: int, k_shot: int,
                     episodes: int, seed: int, side_info: dict[str, RelationInfo] | None = None,
                     evidence: EvidenceSource | None = None, nota_rate: float = 0.0) -> dict:
    """Mean accuracy and 95% interval over seeded N-way K-shot episodes (one query per class).

    With `nota_rate`, that share of queries comes from relations outside the episode (FewRel 2.0) and
    the answer counts as right only when it is none of the above (the model's calibrated threshold);
    the other queries must get their relation and clear the threshold.
    """
    if nota_rate:
        return evaluate_fewshot_nota(model, data, n_way, k_shot, episodes, seed, side_info, nota_rate)
    started = time.perf_counter()
    eps = sample_episodes(data, n_way, k_shot, episodes, seed)
    encoded = EpisodeEncoder(model, data, eps, side_info, evidence=evidence)
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
            "side_info": side_info is not None, "graph": evidence is not None,
            "seconds": round(time.perf_counter() - started, 1)}


def evaluate_fewshot_nota(model: RelationModel, data: dict[str, list[RelationInstance]], n_way: int, k_shot: int,
                          episodes: int, seed: int, side_info: dict[str, RelationInfo] | None,
                          nota_rate: float) -> dict:
    """`evaluate_fewshot` with none-of-the-above queries: N + 1 answers, decided as the service decides."""
    started = time.perf_counter()
    eps = sample_episodes(data, n_way, k_shot, episodes, seed, nota_rate=nota_rate)
    encoded = EpisodeEncoder(model, data, eps, side_info)
    classifier = PrototypicalClassifier(model)
    threshold = model.config.nota_threshold
    accuracies, present_right, present_total, nota_right, nota_total = [], 0, 0, 0, 0
    for ep in tqdm(eps, desc=f"{n_way}-way {k_shot}-shot, none-of-the-above {nota_rate}", unit="ep", leave=False):
        protos = encoded.prototypes(ep.relations, ep.support)
        items = ep.query_items()
        views = encoded.queries([r for r, _ in items], [i for _, i in items])
        probs = classifier.probabilities(*views, protos)
        best = probs.max(1)
        answer = torch.where(none_of_the_above(best.values, threshold), n_way, best.indices)
        gold = torch.tensor(ep.gold())
        right = answer == gold
        accuracies.append(right.float().mean().item())
        nota = gold == n_way
        nota_right += int(right[nota].sum())
        nota_total += int(nota.sum())
        present_right += int(right[~nota].sum())
        present_total += int((~nota).sum())
    accuracy, ci95 = mean_ci95(accuracies)
    return {"task": "fewshot", "n_way": n_way, "k_shot": k_shot, "episodes": episodes, "seed": seed,
            "nota_rate": nota_rate, "accuracy": round(accuracy, 4), "ci95": round(ci95, 4),
            "nota_queries": nota_total, "nota_recall": round(nota_right / nota_total, 4) if nota_total else None,
            "present_accuracy": round(present_right / present_total, 4) if present_total else None,
            "threshold": threshold, "relations": len(data), "side_info": side_info is not None, "graph": False,
            "seconds": round(time.perf_counter() - started, 1)}


def zeroshot_scores(model: RelationModel, data: dict[str, list[RelationInstance]],
                    side_info: dict[str, RelationInfo], evidence: EvidenceSource | None = None
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
    example_v, side_v = embed_with_progress(model, instances, "encoding sentences")
    description, has_side = describe_relations(model, relations, side_info)
    protos = PrototypeSet(relations, relations, description, torch.zeros(len(relations), example_v.shape[1]),
                          torch.zeros(len(relations), dtype=torch.long), has_side)
    keys = [(r, i) for r in relations for i in range(len(data[r]))]
    found = None if evidence is None else evidence(model, keys, relations, description)
    return PrototypicalClassifier(model).similarity(example_v, side_v, protos, evidence=found), gold


def evaluate_zeroshot(model: RelationModel, data: dict[str, list[RelationInstance]],
                      side_info: dict[str, RelationInfo], evidence: EvidenceSource | None = None,
                      n_way: int | None = None, subsets: int = 100, seed: int = 0) -> dict:
    """Every instance classified among all relations of the file from side information alone.

    With `n_way`, among `n_way` relations at a time instead: `subsets` seeded random draws of that many
    relations, each scoring the instances of its relations; accuracy and macro-F1 are averaged over
    the draws (the "zero-shot over 5 unseen relations" setting). The sentences are encoded once.
    """
    started = time.perf_counter()
    if n_way is not None and not 2 <= n_way <= len(data):
        raise ValueError(f"n_way must be between 2 and the number of relations ({len(data)}), not {n_way}")
    scores, gold = zeroshot_scores(model, data, side_info, evidence)
    return zeroshot_report(scores, gold, n_way, subsets, seed) | {
        "graph": evidence is not None, "seconds": round(time.perf_counter() - started, 1)}


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
