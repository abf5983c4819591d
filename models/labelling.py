"""What a labelling session needs from the model: which sentences to show next, and how good the examples are."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def informativeness(probability: torch.Tensor) -> torch.Tensor:
    """1 at the decision boundary (p = 0.5), 0 where the model is sure either way."""
    return 1.0 - (2.0 * probability - 1.0).abs()


def rank_for_labelling(probability: torch.Tensor, vectors: torch.Tensor, n: int,
                       diversity: float = 0.5) -> list[int]:
    """Indices of the `n` candidates to show first: uncertain ones, spread over the text.

    Greedy maximal marginal relevance: each pick maximises
    (1 - diversity) * informativeness - diversity * max cosine similarity to the picks so far,
    so ten near-duplicates of one uncertain sentence do not crowd out the rest.
    """
    if len(probability) == 0 or n <= 0:
        return []
    gain = informativeness(probability.float())
    unit = F.normalize(vectors.float(), dim=1)
    picked: list[int] = []
    closest = torch.full((len(probability),), -1.0)  # max similarity to a picked candidate
    available = torch.ones(len(probability), dtype=torch.bool)
    for _ in range(min(n, len(probability))):
        redundancy = closest.clamp(min=0.0) if picked else torch.zeros_like(closest)
        value = (1.0 - diversity) * gain - diversity * redundancy
        value[~available] = -float("inf")
        best = int(value.argmax())
        picked.append(best)
        available[best] = False
        closest = torch.maximum(closest, unit @ unit[best])
    return picked


def leave_one_out(base_scores: torch.Tensor, relation: int, relation_score) -> tuple[list[dict], dict[int, int]]:
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
