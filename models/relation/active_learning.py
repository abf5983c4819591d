"""Active learning for labelling sessions: which candidate sentences a person should label next."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def informativeness(probability: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """1 at the decision boundary (p = the none-of-the-above threshold), falling linearly to 0 where the
    model is sure either way (p = 0 or 1)."""
    below = probability / threshold
    above = (1.0 - probability) / (1.0 - threshold)
    return torch.where(probability <= threshold, below, above).clamp(0.0, 1.0)


def rank_for_labelling(probability: torch.Tensor, vectors: torch.Tensor, n: int,
                       diversity: float = 0.5, threshold: float = 0.5) -> list[int]:
    """Indices of the `n` candidates to show first: uncertain ones, spread over the text.

    Greedy maximal marginal relevance: each pick maximises
    (1 - diversity) * informativeness - diversity * max cosine similarity to the picks so far,
    so ten near-duplicates of one uncertain sentence do not crowd out the rest. `threshold` is where
    the service decides (the serving none-of-the-above threshold).
    """
    if len(probability) == 0 or n <= 0:
        return []
    gain = informativeness(probability.float(), threshold)
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
