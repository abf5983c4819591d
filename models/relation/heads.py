"""Relation heads: map an encoded instance into the example space and the side-information space.

Untrained, the heads are fixed read-outs: the example view is [sentence; head; tail] / sqrt(3) and
the side view is the sentence vector, which lives in the same space as an encoded description.
Trained heads (see models.relation.training) add learned projections on top of the same read-outs.

With s, h, t the normalised sentence, head and tail read-outs and j = [s; h; t]:

    untrained:  example = j / sqrt(3)              side = s                       description(d) = d
    trained:    example = norm(W_e j + b_e)        side = norm(s + W_s j + b_s)   description(d) = norm(W_d d + b_d)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kgrel.models.relation.encoder import InstanceEncoding


@dataclass
class RelationViews:
    """What the relation model makes of a batch of texts, each (batch, dim) and L2-normalised (trained heads).

    example: compared with the examples of a relation (the few-shot part of a prototype);
    side: compared with a relation's encoded side information (the zero-shot part);
    description: the text read as side information itself (for relation descriptions and class labels).
    """

    example: torch.Tensor
    side: torch.Tensor
    description: torch.Tensor


class RelationHeads(nn.Module):
    def __init__(self, hidden: int, dim: int | None = None):
        """`dim` None: parameter-free read-outs; an int: learned projections to `dim` dimensions."""
        super().__init__()
        self.hidden = hidden
        self.dim = dim
        if dim is not None:
            self.example_proj = nn.Linear(3 * hidden, dim)
            self.side_proj = nn.Linear(3 * hidden, hidden)
            self.description_proj = nn.Linear(hidden, hidden)
            self.reset_parameters()

    @property
    def trained(self) -> bool:
        return self.dim is not None

    def reset_parameters(self) -> None:
        """Start exactly where the untrained read-outs are, so training only has to improve on them."""
        if not self.trained:
            return
        with torch.no_grad():
            self.example_proj.weight.zero_()
            n = min(self.example_proj.in_features, self.dim)
            self.example_proj.weight[:n, :n] = torch.eye(n)
            self.example_proj.bias.zero_()
            self.side_proj.weight.zero_()
            self.side_proj.bias.zero_()
            self.description_proj.weight.copy_(torch.eye(self.hidden))
            self.description_proj.bias.zero_()

    def forward(self, enc: InstanceEncoding) -> RelationViews:
        """All three views of encoded texts."""
        return RelationViews(self.example_view(enc), self.side_view(enc), self.description_view(enc.sentence))

    def example_view(self, enc: InstanceEncoding) -> torch.Tensor:
        joint = torch.cat([enc.sentence, enc.head, enc.tail], dim=-1)
        if not self.trained:
            return joint / math.sqrt(3.0)
        return F.normalize(self.example_proj(joint), dim=-1)

    def side_view(self, enc: InstanceEncoding) -> torch.Tensor:
        if not self.trained:
            return enc.sentence
        joint = torch.cat([enc.sentence, enc.head, enc.tail], dim=-1)
        return F.normalize(enc.sentence + self.side_proj(joint), dim=-1)

    def description_view(self, descriptions: torch.Tensor) -> torch.Tensor:
        if not self.trained:
            return descriptions
        return F.normalize(self.description_proj(descriptions), dim=-1)
