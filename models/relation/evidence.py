"""Evidence from outside the text, as the prototypical score reads it.

Each kind of evidence f gives, for queries x relations, a score g_f in [-1, 1] and a mask m_f of
where it exists; it joins the score as w_f * m_f pseudo-examples (`prototypes.fused_similarity`).
The relation model only reads this value: what fills it (the graph) lives in `models.fusion`, so
the relation model never imports the graph model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

if TYPE_CHECKING:
    from kgrel.models.relation.model import RelationModel


@dataclass
class Evidence:
    """(queries, relations) scores and availability masks, one pair per kind of evidence."""

    scores: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]

    def select(self, rows, cols) -> Evidence:
        return Evidence({k: v[rows][:, cols] for k, v in self.scores.items()},
                        {k: v[rows][:, cols] for k, v in self.masks.items()})


class EvidenceSource(Protocol):
    """Evidence for instances of an evaluation file: `keys` are (relation id, index in its list) of the
    queries, `relations` the columns (sorted relation ids), `descriptions` their side-information views."""

    def __call__(self, model: RelationModel, keys: Sequence[tuple[str, int]], relations: Sequence[str],
                 descriptions: torch.Tensor) -> Evidence: ...
