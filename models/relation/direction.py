"""One direction per fact: combine the scores of a pair asked both ways under the relations' algebra.

For two mentions a and b, the classifier gives p_f[r] = P(a r b) (the pair as asked) and
p_b[r] = P(b r a) (the pair reversed). Facts are then read under each relation's algebra:

- symmetric r (owl:SymmetricProperty): (a r b) and (b r a) are one fact, scored max(p_f, p_b) and
  stated in the order asked;
- r with inverse r' (owl:inverseOf): (b r a) is the fact (a r' b), so each is scored by the best
  of its two readings and stated once, as a forward fact of whichever relation it is;
- any other relation is asymmetric: (a r b) and (b r a) cannot both hold, and only the direction
  with the higher score is kept (a tie keeps the order asked).

The result never holds both directions of an asymmetric relation, whatever the model scores.

The two readings of an asymmetric relation (or of a relation and its inverse) are scored
independently, yet at most one of them is true, so the kept one is scored P(this reading, not the
other | not both) = p (1 - q) / (1 - p q): a pair the model reads "composer" both ways at 0.8 is a fact
of unknown direction, scored 0.44, not 0.8 (keeping the winner's own score was measured to give more than
twice the reversed false facts: docs/benchmarks.md, "Tried and not kept"). It relies on the algebra being
right: a relation that holds both ways must be declared symmetric, or be seen so in the graph's facts
(`RelationInfo.reads_symmetric`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class RelationAlgebra:
    """Per relation of a prototype set: symmetric or not, and the index of its inverse (-1: none)."""

    symmetric: torch.Tensor  # (R,) bool
    inverse: torch.Tensor  # (R,) long

    @classmethod
    def of(cls, iris: Sequence[str], symmetric: Sequence[bool], inverses: Sequence[str | None]) -> RelationAlgebra:
        """The algebra of relations `iris`; an inverse outside the set is left out (stated as reversed)."""
        index = {iri: i for i, iri in enumerate(iris)}
        inverse = [index.get(inv, -1) if inv else -1 for inv in inverses]
        # A relation declared its own inverse is symmetric.
        sym = [bool(s) or inverse[i] == i for i, s in enumerate(symmetric)]
        inverse = [-1 if inverse[i] == i else inverse[i] for i in range(len(inverse))]
        return cls(torch.tensor(sym, dtype=torch.bool), torch.tensor(inverse, dtype=torch.long))

    @classmethod
    def asymmetric(cls, n: int) -> RelationAlgebra:
        return cls(torch.zeros(n, dtype=torch.bool), torch.full((n,), -1, dtype=torch.long))

    def select(self, idx: torch.Tensor) -> RelationAlgebra:
        """The algebra of the relations `idx` (inverses renumbered; those left out are dropped)."""
        position = torch.full((len(self.inverse),), -1, dtype=torch.long)
        position[idx] = torch.arange(len(idx))
        inv = self.inverse[idx]
        return RelationAlgebra(self.symmetric[idx].clone(), torch.where(inv >= 0, position[inv.clamp(min=0)], inv))


def exclusive(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """P(A and not B | not both) for independent events of probabilities p and q: the score of one of two
    readings that cannot both hold."""
    return p * (1 - q) / (1 - p * q).clamp(min=1e-6)


def orient(forward: torch.Tensor, backward: torch.Tensor,
           algebra: RelationAlgebra) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores of the facts (a r b) and (b r a) for pairs x relations, one direction per fact.

    `forward[i, r]` scores pair i as asked, `backward[i, r]` the same pair reversed. Returns
    (forward facts, backward facts) of the same shape where, for every pair and relation, at most
    one of the two is non-zero, and a symmetric or inverse fact appears only once; the winning reading's
    score is discounted by the losing reading's (`exclusive`).
    """
    return one_direction(*both_directions(forward, backward, algebra), algebra)


def one_direction(fwd: torch.Tensor, bwd: torch.Tensor, algebra: RelationAlgebra) -> tuple[torch.Tensor, torch.Tensor]:
    """`both_directions`' scores with only the higher of each fact's two directions kept."""
    forward_wins = fwd >= bwd
    fwd = torch.where(forward_wins, fwd, torch.zeros_like(fwd))
    bwd = torch.where(forward_wins, torch.zeros_like(bwd), bwd)
    # (b r a) with r' = inverse(r) in the set is the fact (a r' b): state it once, forward.
    bwd = torch.where(algebra.inverse >= 0, torch.zeros_like(bwd), bwd)
    return fwd, bwd


def both_directions(forward: torch.Tensor, backward: torch.Tensor,
                    algebra: RelationAlgebra) -> tuple[torch.Tensor, torch.Tensor]:
    """`orient`'s scores of (a r b) and (b r a) before one direction is kept (a symmetric fact is forward)."""
    has_inverse = algebra.inverse >= 0
    inv = algebra.inverse.clamp(min=0)
    fwd = torch.where(has_inverse, torch.maximum(forward, backward[:, inv]), forward)
    bwd = torch.where(has_inverse, torch.maximum(backward, forward[:, inv]), backward)
    fwd, bwd = (torch.where(algebra.symmetric, fwd, exclusive(fwd, bwd)),
                torch.where(algebra.symmetric, bwd, exclusive(bwd, fwd)))
    fwd = torch.where(algebra.symmetric, torch.maximum(fwd, bwd), fwd)
    bwd = torch.where(algebra.symmetric, torch.zeros_like(bwd), bwd)
    return fwd, bwd


def best_facts(forward: torch.Tensor, backward: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each row's best fact among `orient`'s (forward, backward) scores: its probability, its relation
    column and whether it is stated reversed."""
    best = torch.cat([forward, backward], dim=1).max(1)
    r = forward.shape[1]
    return best.values, best.indices % r, best.indices >= r
