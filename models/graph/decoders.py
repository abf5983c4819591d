"""Link-prediction decoders: score a (head, relation, tail) triple from embeddings.

Relations are reciprocal: relation r + R scores (tail, r, head), so every query asks for a tail and
one decoder serves both directions (Lacroix et al., 2018).
"""

from __future__ import annotations

import torch
from torch import nn


class ComplExDecoder(nn.Module):
    r"""ComplEx (Trouillon et al., 2016): :math:`\phi(h, r, t) = \mathrm{Re}(\langle h, r, \bar t\rangle)`.

    Embeddings have size 2 * rank: the real parts, then the imaginary parts.
    """

    def __init__(self, num_relations: int, rank: int, init_scale: float = 1e-3):
        super().__init__()
        self.rank = rank
        self.init_scale = init_scale
        self.relation = nn.Embedding(num_relations, 2 * rank)
        self.reset_parameters()

    @property
    def dim(self) -> int:
        return 2 * self.rank

    def reset_parameters(self) -> None:
        nn.init.normal_(self.relation.weight, std=self.init_scale)

    def query(self, head: torch.Tensor, relation: torch.Tensor) -> torch.Tensor:
        """The vector q with score(h, r, t) = q . t for every t: (batch, 2 * rank)."""
        r = self.relation(relation)
        h_re, h_im = head[..., :self.rank], head[..., self.rank:]
        r_re, r_im = r[..., :self.rank], r[..., self.rank:]
        return torch.cat([h_re * r_re - h_im * r_im, h_re * r_im + h_im * r_re], dim=-1)

    def forward(self, head: torch.Tensor, relation: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        return (self.query(head, relation) * tail).sum(-1)

    def factors(self, head, relation, tail) -> list[torch.Tensor]:
        """Moduli of the complex factors, for the N3 regulariser."""
        r = self.relation(relation)
        out = []
        for x in (head, r, tail):
            out.append(torch.sqrt(x[..., :self.rank] ** 2 + x[..., self.rank:] ** 2 + 1e-12))
        return out


class DistMultDecoder(nn.Module):
    r"""DistMult (Yang et al., 2015): :math:`\phi(h, r, t) = \langle h, r, t\rangle`."""

    def __init__(self, num_relations: int, dim: int, init_scale: float = 1e-3):
        super().__init__()
        self._dim = dim
        self.init_scale = init_scale
        self.relation = nn.Embedding(num_relations, dim)
        self.reset_parameters()

    @property
    def dim(self) -> int:
        return self._dim

    def reset_parameters(self) -> None:
        nn.init.normal_(self.relation.weight, std=self.init_scale)

    def query(self, head: torch.Tensor, relation: torch.Tensor) -> torch.Tensor:
        return head * self.relation(relation)

    def forward(self, head, relation, tail) -> torch.Tensor:
        return (self.query(head, relation) * tail).sum(-1)

    def factors(self, head, relation, tail) -> list[torch.Tensor]:
        return [head.abs(), self.relation(relation).abs(), tail.abs()]


DECODERS = {"complex": ComplExDecoder, "distmult": DistMultDecoder}
