"""How much the side information weighs against K examples, fitted per K on held-out relations.

Training learns one weight beta for all K, but on relations the model has never seen the best
weight depends on K: with one example the side information should count for about one example,
with five it should count for more (the prototype of five similar sentences over-rates its own
wording). `fit_side_weights` picks beta for each K by accuracy on episodes of held-out relations;
`ModelConfig.side_weight_for` interpolates between the fitted K.
"""

from __future__ import annotations

import torch

from models.evaluate import EpisodeEncoder
from models.fewrel import sample_episodes
from models.proto import PrototypicalClassifier

CANDIDATES = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
FITTED_K = (1, 2, 3, 5)


def fit_side_weights(model, data: dict, side_info: dict | None, *, n_way: int = 5, episodes: int = 300,
                     seed: int = 0, ks=FITTED_K, candidates=CANDIDATES) -> tuple[dict[str, float], dict]:
    """{K: beta} with the best N-way K-shot accuracy on `data`, and the accuracy of every candidate."""
    classifier = PrototypicalClassifier(model)
    n_way = min(n_way, len(data))
    fitted, report = {}, {}
    for k in ks:
        if sum(len(items) >= k + 1 for items in data.values()) < n_way:
            break
        eps = sample_episodes(data, n_way, k, episodes, seed + 100 + k)
        encoded = EpisodeEncoder(model, data, eps, side_info, desc=f"side weight K={k}")
        scored = [(encoded.queries(ep.relations, ep.query), encoded.prototypes(ep.relations, ep.support))
                  for ep in eps]
        accuracy = {}
        for beta in candidates:
            model.config.side_weight_by_k = {str(k): beta}
            right = [(classifier.similarity(*queries, protos).argmax(1) == torch.arange(n_way)).float().mean()
                     for queries, protos in scored]
            accuracy[beta] = round(torch.stack(right).mean().item(), 4)
        best = max(candidates, key=lambda b: (accuracy[b], -abs(b - model.config.side_weight)))
        fitted[str(k)] = best
        report[str(k)] = {str(b): a for b, a in accuracy.items()}
    model.config.side_weight_by_k = fitted
    return fitted, report
