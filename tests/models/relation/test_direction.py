"""One direction per fact: `orient` under symmetric, inverse and asymmetric relations, by hand."""

from __future__ import annotations

import pytest
import torch

from kgrel.models.relation.direction import RelationAlgebra, exclusive, orient

# Relations: 0 asymmetric (composer), 1 symmetric (spouse), 2 and 3 inverses (parent of / child of).
ALGEBRA = RelationAlgebra.of(["composer", "spouse", "parentOf", "childOf"], [False, True, False, False],
                             [None, None, "childOf", "parentOf"])


def test_algebra_reads_inverses_both_ways_and_self_inverse_as_symmetric():
    assert ALGEBRA.symmetric.tolist() == [False, True, False, False]
    assert ALGEBRA.inverse.tolist() == [-1, -1, 3, 2]
    own = RelationAlgebra.of(["a", "b"], [False, False], ["a", "elsewhere"])
    assert own.symmetric.tolist() == [True, False] and own.inverse.tolist() == [-1, -1]
    picked = ALGEBRA.select(torch.tensor([3, 0]))  # childOf's inverse is not among the candidates
    assert picked.inverse.tolist() == [-1, -1] and picked.symmetric.tolist() == [False, False]
    picked = ALGEBRA.select(torch.tensor([3, 2]))
    assert picked.inverse.tolist() == [1, 0]


def test_orient_keeps_one_direction_per_fact():
    forward = torch.tensor([[0.8, 0.3, 0.2, 0.1]])
    backward = torch.tensor([[0.1, 0.7, 0.1, 0.9]])
    fwd, bwd = orient(forward, backward, ALGEBRA)
    # composer: (a composer b) 0.8 beats (b composer a) 0.1, which is dropped: 0.8 * 0.9 / (1 - 0.08).
    assert fwd[0, 0].item() == pytest.approx(0.72 / 0.92) and bwd[0, 0] == 0
    # spouse: one fact, the better reading, stated as asked.
    assert fwd[0, 1] == pytest.approx(0.7) and bwd[0, 1] == 0
    # (b childOf a) 0.9 is (a parentOf b): parentOf forward, and childOf forward (a childOf b) loses.
    assert fwd[0, 2] > 0.8 and fwd[0, 3] == 0 and bwd[0, 2] == 0 and bwd[0, 3] == 0


def test_the_exclusive_rule_scores_a_reading_by_how_sure_the_direction_is():
    forward = torch.tensor([[0.8, 0.3, 0.2, 0.1]])
    backward = torch.tensor([[0.6, 0.7, 0.1, 0.9]])
    fwd, bwd = orient(forward, backward, ALGEBRA)  # the service's rule
    # composer: both readings are likely, so the winning direction is less sure: 0.8 * 0.4 / (1 - 0.48).
    assert fwd[0, 0].item() == pytest.approx(0.32 / 0.52) and bwd[0, 0] == 0
    # spouse is symmetric: the two readings are one fact, nothing to discount.
    assert fwd[0, 1] == pytest.approx(0.7) and bwd[0, 1] == 0
    # parentOf (a, b) read 0.9 either way, against (b parentOf a) read at most 0.1: 0.9 * 0.9 / (1 - 0.09).
    assert fwd[0, 2].item() == pytest.approx(0.81 / 0.91) and fwd[0, 3] == 0 and bwd[0, 2] == 0 and bwd[0, 3] == 0
    # Sure of the relation, unsure of the direction: no longer above a threshold of 1/2.
    assert exclusive(torch.tensor(0.8), torch.tensor(0.8)).item() == pytest.approx(0.16 / 0.36)
    # A reading the other one does not contest keeps its score.
    assert exclusive(torch.tensor(0.8), torch.tensor(0.0)).item() == pytest.approx(0.8)


def test_orient_never_returns_both_directions_of_an_asymmetric_relation():
    torch.manual_seed(0)
    forward, backward = torch.rand(50, 4), torch.rand(50, 4)
    fwd, bwd = orient(forward, backward, RelationAlgebra.asymmetric(4))
    assert not ((fwd > 0) & (bwd > 0)).any()
    high, low = torch.maximum(forward, backward), torch.minimum(forward, backward)
    assert torch.allclose(torch.maximum(fwd, bwd), exclusive(high, low))
    # And a reversed pair is the mirror image: asking (b, a) gives the same facts the other way round.
    fwd2, bwd2 = orient(backward, forward, RelationAlgebra.asymmetric(4))
    assert torch.equal(fwd2, bwd) and torch.equal(bwd2, fwd)
