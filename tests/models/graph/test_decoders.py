"""Decoder scores against values computed by hand."""

from __future__ import annotations

import pytest
import torch

from kgrel.models.graph.decoders import DECODERS, ComplExDecoder, DistMultDecoder


def test_complex_score_is_re_of_h_r_conj_t():
    # rank 2; vectors are [real parts | imaginary parts].
    # h = (1+3i, 2+4i), r = (1+0i, 0+1i), t = (2+1i, 1+1i)
    # Re(h0 r0 conj(t0)) = Re((1+3i)(2-i)) = Re(5+5i) = 5
    # Re(h1 r1 conj(t1)) = Re((-4+2i)(1-i)) = Re(-2+6i) = -2        -> score 3
    decoder = ComplExDecoder(num_relations=1, rank=2)
    with torch.no_grad():
        decoder.relation.weight[0] = torch.tensor([1.0, 0.0, 0.0, 1.0])
    h = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    t = torch.tensor([[2.0, 1.0, 1.0, 1.0]])
    r = torch.tensor([0])
    assert decoder(h, r, t).item() == pytest.approx(3.0)
    # query(h, r) . t is the same score, for every tail at once
    assert (decoder.query(h, r) @ t.T).item() == pytest.approx(3.0)
    # ComplEx is not symmetric: swapping h and t gives Re(conj) of the other product
    assert decoder(t, r, h).item() != pytest.approx(3.0)
    # N3 factors are the moduli |x_k|: |1+3i| = sqrt(10)
    assert decoder.factors(h, r, t)[0][0, 0].item() == pytest.approx(10 ** 0.5)


def test_distmult_score_is_the_trilinear_product():
    decoder = DistMultDecoder(num_relations=1, dim=3)
    with torch.no_grad():
        decoder.relation.weight[0] = torch.tensor([2.0, 0.0, -1.0])
    h, t = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1.0, 1.0, 1.0]])
    r = torch.tensor([0])
    assert decoder(h, r, t).item() == pytest.approx(2.0 + 0.0 - 3.0)
    assert decoder(t, r, h).item() == pytest.approx(decoder(h, r, t).item())  # symmetric by construction


def test_decoders_are_picked_by_name():
    assert DECODERS["complex"] is ComplExDecoder and DECODERS["distmult"] is DistMultDecoder
