"""Relation heads: map an encoded instance into the example space and the side-information space.

Untrained, the heads are fixed read-outs: the example view is [sentence; head; tail] / sqrt(3) and
the side view is the sentence vector, which lives in the same space as an encoded description.
Trained heads (see models.relation.document_training) add learned projections on top of the same read-outs.

With s, h, t the normalised sentence, head and tail read-outs and j = [s; h; t]:

    untrained:  example = j / sqrt(3)              side = s                       description(d) = d
    trained:    example = norm(W_e j' + b_e)       side = norm(s + W_s j' + b_s)  description(d) = norm(W_d d + b_d)

with j' = [s; h; t; z_h * z_t], z_h = tanh(W_h [h; s]), z_t = tanh(W_t [t; s]) (the head and the tail read
together). W_e starts as [I 0] and W_s as [0 I I 0], so a trained model starts from the untrained read-outs
(its side view from norm(s + h + t)).

Trained heads also hold the document reader's context query (`models.relation.reader`) and the type
projection: an entity with encoded class labels y reads as norm(h + W_y y), so types are evidence the
heads learn to weigh (W_y starts at 0: no types, no change).
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
            # z_h = tanh(W_h [h; s]), z_t = tanh(W_t [t; s]): their product lets a relation depend on what the
            # head and the tail are together (a person and a date), which a sum of h and t cannot say.
            self.head_proj = nn.Linear(2 * hidden, hidden)
            self.tail_proj = nn.Linear(2 * hidden, hidden)
            self.example_proj = nn.Linear(4 * hidden, dim)
            self.side_proj = nn.Linear(4 * hidden, hidden)
            self.description_proj = nn.Linear(hidden, hidden)
            self.context_query = nn.Linear(2 * hidden, hidden)
            self.type_proj = nn.Linear(hidden, hidden)
            # None of the above is a prototype too: a learned direction of the side space that pairs stating no
            # relation lie near (a pair-specific bar, as ATLOP's threshold class).
            self.nota = nn.Parameter(torch.zeros(hidden))
            self.reset_parameters()

    @property
    def trained(self) -> bool:
        return self.dim is not None

    def reset_parameters(self) -> None:
        """Start exactly where the untrained read-outs are, so training only has to improve on them."""
        if not self.trained:
            return
        with torch.no_grad():
            for layer in (self.head_proj, self.tail_proj):
                layer.reset_parameters()  # random: a product of two zero projections would never learn
            self.example_proj.weight.zero_()
            n = min(3 * self.hidden, self.dim)
            self.example_proj.weight[:n, :n] = torch.eye(n)
            self.example_proj.bias.zero_()
            # Side view s + h + t at first: a pair's own entities count from the start, not only its context.
            self.side_proj.weight.zero_()
            self.side_proj.weight[:, self.hidden:2 * self.hidden] = torch.eye(self.hidden)
            self.side_proj.weight[:, 2 * self.hidden:3 * self.hidden] = torch.eye(self.hidden)
            self.side_proj.bias.zero_()
            self.description_proj.weight.copy_(torch.eye(self.hidden))
            self.description_proj.bias.zero_()
            for layer in (self.context_query, self.type_proj):
                layer.weight.zero_()
                layer.bias.zero_()

    def forward(self, enc: InstanceEncoding) -> RelationViews:
        """All three views of encoded texts."""
        enc = self.typed(enc)
        return RelationViews(self.example_view(enc), self.side_view(enc), self.description_view(enc.sentence))

    def pair_views(self, enc: InstanceEncoding) -> tuple[torch.Tensor, torch.Tensor]:
        """(example, side) views of entity pairs (no description view: a pair is no side information)."""
        enc = self.typed(enc)
        if not self.trained:
            return self.example_view(enc), self.side_view(enc)
        joint = self.joint(enc)  # once for both views
        return (F.normalize(self.example_proj(joint), dim=-1),
                F.normalize(enc.sentence + self.side_proj(joint), dim=-1))

    def typed(self, enc: InstanceEncoding) -> InstanceEncoding:
        """Head and tail with their types added (trained heads, where types are given)."""
        if not self.trained or enc.head_type is None:
            return enc
        head = F.normalize(enc.head + self.type_proj(enc.head_type), dim=-1)
        tail = F.normalize(enc.tail + self.type_proj(enc.tail_type), dim=-1)
        return InstanceEncoding(enc.sentence, head, tail)

    def joint(self, enc: InstanceEncoding) -> torch.Tensor:
        """[s; h; t; z_h * z_t], what the trained views project."""
        z_h = torch.tanh(self.head_proj(torch.cat([enc.head, enc.sentence], dim=-1)))
        z_t = torch.tanh(self.tail_proj(torch.cat([enc.tail, enc.sentence], dim=-1)))
        return torch.cat([enc.sentence, enc.head, enc.tail, z_h * z_t], dim=-1)

    def example_view(self, enc: InstanceEncoding) -> torch.Tensor:
        if not self.trained:
            return torch.cat([enc.sentence, enc.head, enc.tail], dim=-1) / math.sqrt(3.0)
        return F.normalize(self.example_proj(self.joint(enc)), dim=-1)

    def side_view(self, enc: InstanceEncoding) -> torch.Tensor:
        if not self.trained:
            return enc.sentence
        return F.normalize(enc.sentence + self.side_proj(self.joint(enc)), dim=-1)

    def nota_similarity(self, side: torch.Tensor) -> torch.Tensor:
        """cos(side view, none-of-the-above prototype) per row, (queries, 1); zero for untrained heads."""
        if not self.trained:
            return side.new_zeros(len(side), 1)
        return side @ F.normalize(self.nota, dim=0)[:, None]

    def description_view(self, descriptions: torch.Tensor) -> torch.Tensor:
        if not self.trained:
            return descriptions
        return F.normalize(self.description_proj(descriptions), dim=-1)
