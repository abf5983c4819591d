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
        a, b = torch.tensor([self.parameters(i) for i in range(MAX_K + 1)]).T
        return torch.sigmoid(a[ks] * scores + b[ks])

    def parameters(self, k: int) -> tuple[float, float]:
        """(a, b) used for K examples."""
        return self.params.get(min(k, MAX_K), self._default(min(k, MAX_K)))

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
