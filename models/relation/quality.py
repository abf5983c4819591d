"""How good a relation's examples are: leave-one-out accuracy as they were added, and what misread ones
are taken for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.prototypes import PrototypeSet, PrototypicalClassifier, fused_similarity


@dataclass
class ExampleQuality:
    curve: list[dict]  # [{"examples": k, "accuracy": leave-one-out accuracy of the first k}]
    confusions: dict[int, int]  # relation index -> misread examples it wins, most first


def example_quality(classifier: PrototypicalClassifier, protos: PrototypeSet, relation: int,
                    examples: Sequence[RelationInstance]) -> ExampleQuality:
    """Leave-one-out quality of the `examples` of relation `relation` (an index into `protos`)."""
    example_v, side_v = classifier.model.embed_instances(list(examples))
    base = classifier.similarity(example_v, side_v, protos)
    beta = classifier.model.config.side_weight * protos.has_side[relation].float()

    def relation_score(i: int, others: list[int]) -> float:
        total = example_v[others].sum(0) if others else torch.zeros(example_v.shape[1])
        return float(fused_similarity(example_v[i:i + 1], side_v[i:i + 1], total[None],
                                      protos.description[relation:relation + 1], torch.tensor([len(others)]),
                                      beta)[0, 0])

    curve, confusions = leave_one_out(base, relation, relation_score)
    return ExampleQuality(curve, confusions)


def leave_one_out(base_scores: torch.Tensor, relation: int,
                  relation_score: Callable[[int, list[int]], float]) -> tuple[list[dict], dict[int, int]]:
    """Leave-one-out accuracy of a relation's examples as they were added, and what the misread ones
    were taken for.

    `base_scores` (N examples x R relations) scores the examples against every relation; only the
    relation's own column depends on which of its examples form the prototype, so for k = 1..N and
    each of the first k examples i, `relation_score(i, others)` rescores that column with the
    prototype built from `others` (the first k examples but i; none at k = 1: side information only).
    An example counts as right when its relation scores highest. The confusions map, for k = N, each
    other relation that wins a misread example to how many it wins (what the user should sharpen
    the description or examples against), most first.
    """
    others_best = base_scores.clone()
    others_best[:, relation] = -float("inf")
    best_other, best_index = others_best.max(1)
    n = base_scores.shape[0]
    curve, confusions, wrong = [], {}, []
    for k in range(1, n + 1):
        wrong = [i for i in range(k) if relation_score(i, [j for j in range(k) if j != i]) <= best_other[i]]
        curve.append({"examples": k, "accuracy": round(float(k - len(wrong)) / k, 4)})
    for i in wrong:
        confusions[int(best_index[i])] = confusions.get(int(best_index[i]), 0) + 1
    return curve, dict(sorted(confusions.items(), key=lambda kv: -kv[1]))
