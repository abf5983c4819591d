"""Platt scaling per number of examples K: a similarity becomes the probability that the relation holds.

Similarities from 0, 1 or 5 examples are spread differently, so each K (0..MAX_K) gets its own
sigmoid; calibrated probabilities are what makes "none of the above" a threshold that means something.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

MAX_K = 5


@dataclass
class Calibration:
    """p = sigmoid(a_K * score + b_K), for K = 0..MAX_K (larger K use MAX_K)."""

    params: dict[int, tuple[float, float]] = field(default_factory=dict)

    def probability(self, scores: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        ks = k.clamp(max=MAX_K).long()
        a = torch.tensor([self.params.get(i, self._default(i))[0] for i in range(MAX_K + 1)])
        b = torch.tensor([self.params.get(i, self._default(i))[1] for i in range(MAX_K + 1)])
        return torch.sigmoid(a[ks] * scores + b[ks])

    def _default(self, k: int) -> tuple[float, float]:
        # Uncalibrated fallback: the nearest fitted K, else p = 0.5 at a similarity of 0.5.
        if self.params:
            nearest = min(self.params, key=lambda i: abs(i - k))
            return self.params[nearest]
        return (10.0, -5.0)

    def to_json(self) -> dict[str, list[float]]:
        return {str(k): [round(a, 5), round(b, 5)] for k, (a, b) in sorted(self.params.items())}

    @classmethod
    def from_json(cls, data: dict | None) -> Calibration:
        return cls({int(k): (float(v[0]), float(v[1])) for k, v in (data or {}).items()})


def fit_platt(scores: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None,
              steps: int = 200) -> tuple[float, float]:
    """Weighted logistic regression of 0/1 labels on scores (weights sum to one; uniform by default)."""
    scores = scores.double()
    labels = labels.double()
    weights = (torch.ones_like(scores) if weights is None else weights.double())
    weights = weights / weights.sum()
    a = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-5.0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([a, b], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (weights * torch.nn.functional.binary_cross_entropy_with_logits(
            a * scores + b, labels, reduction="none")).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return float(a.detach()), float(b.detach())


def fit_calibration(model, data: dict, side_info: dict | None, *, n_way: int = 10, episodes: int = 300,
                    seed: int = 0, max_k: int = MAX_K) -> tuple[Calibration, dict]:
    """Fit one sigmoid per K on N-way episodes; returns the calibration and a none-of-the-above report.

    The sigmoid is fitted to whether the *top* answer is right, over queries whose relation is among
    the candidates and queries whose relation is not (weighted half and half), so a score of 0.8
    means "right four times in five" and the threshold decides none-of-the-above. The report gives,
    at the model's threshold, how often a query whose relation is *absent* from the candidates is
    answered "none of the above", and how often one whose relation is present is answered with the
    right relation.
    """
    from models.evaluate import EpisodeEncoder
    from models.fewrel import sample_episodes
    from models.proto import PrototypicalClassifier

    classifier = PrototypicalClassifier(model)
    calibration = Calibration()
    report = {}
    n_way = min(n_way, len(data) - 1)
    threshold = model.config.nota_threshold
    for k in range(max_k + 1):
        if sum(len(items) >= k + 1 for items in data.values()) < n_way + 1:
            break  # too few sentences per relation for this K; larger K fall back to the nearest fitted one
        # The last relation of each episode supplies a query whose relation is not among the candidates.
        eps = sample_episodes(data, n_way + 1, k, episodes, seed + k)
        encoded = EpisodeEncoder(model, data, eps, side_info, desc=f"calibration K={k}")
        present, absent = [], []
        for ep in eps:
            protos = encoded.prototypes(ep.relations[:n_way], ep.support[:n_way])
            s = classifier.similarity(*encoded.queries(ep.relations, ep.query), protos)
            present.append(s[:n_way])
            absent.append(s[n_way])
        present_t = torch.stack(present)  # (episodes, n_way queries, n_way relations), diagonal is right
        absent_top = torch.stack(absent).max(-1).values
        top = present_t.max(-1).values.reshape(-1)
        correct = (present_t.argmax(-1) == torch.arange(n_way)).float().reshape(-1)
        weights = torch.cat([torch.full_like(top, 0.5 / len(top)),
                             torch.full_like(absent_top, 0.5 / len(absent_top))])
        a, b = fit_platt(torch.cat([top, absent_top]), torch.cat([correct, torch.zeros_like(absent_top)]), weights)
        calibration.params[k] = (a, b)
        kept = torch.sigmoid(a * present_t + b).max(-1).values >= threshold
        right = (present_t.argmax(-1) == torch.arange(n_way)) & kept
        nota = torch.sigmoid(a * torch.stack(absent) + b).max(-1).values < threshold
        report[k] = {"present_right_and_kept": round(right.float().mean().item(), 3),
                     "absent_answered_nota": round(nota.float().mean().item(), 3)}
    return calibration, report
