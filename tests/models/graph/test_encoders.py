"""Entity encoders and the link predictor that composes them, against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from kgrel.models.graph.encoders import ENCODERS, RGCNEncoder, ShallowEncoder
from kgrel.models.graph.link_predictor import LinkPredictor, LPConfig


def test_rgcn_layer_mean_aggregates_per_relation_with_root_and_residual():
    # One layer, dim 2, one relation, no bases: x'_i = x_i W_root + mean_{j -> i} x_j W_0 (+ bias 0),
    # output = x_i + x'_i. With W_root = I and W_0 = 2I, node 0 receives from nodes 1 and 2:
    # x'_0 = [1, 0] + 2 * mean([0, 1], [2, 2]) = [3, 3]  -> output [4, 3]
    # node 1 receives nothing: x'_1 = [0, 1]              -> output [0, 2]
    encoder = RGCNEncoder(num_nodes=3, num_relations=1, dim=2, num_layers=1, num_bases=None)
    conv = encoder.convs[0]
    with torch.no_grad():
        encoder.embedding.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]))
        conv.weight.copy_(2 * torch.eye(2)[None])
        conv.root.copy_(torch.eye(2))
        conv.bias.zero_()
    encoder.eval()
    edge_index = torch.tensor([[1, 2], [0, 0]])  # source -> target
    out = encoder(edge_index, torch.tensor([0, 0]))
    assert torch.allclose(out, torch.tensor([[4.0, 3.0], [0.0, 2.0], [4.0, 4.0]]))


def test_shallow_encoder_is_its_table_and_ignores_the_graph():
    encoder = ShallowEncoder(num_entities=4, num_relations=2, dim=3)
    assert encoder(None, None) is encoder.embedding.weight and not encoder.needs_graph
    assert ENCODERS["none"] is ShallowEncoder and ENCODERS["rgcn"] is RGCNEncoder


def test_link_predictor_forward_composes_encoder_and_decoder():
    model = LinkPredictor(num_entities=3, num_relations=1, config=LPConfig(decoder="distmult", rank=1))
    with torch.no_grad():
        model.encoder.embedding.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 1.0], [0.0, 1.0]]))
        model.decoder.relation.weight[0] = torch.tensor([1.0, -1.0])
    # score(0, r, 1) = 1*1*3 + 2*(-1)*1 = 1 ; score(0, r, 2) = 0 + 2*(-1)*1 = -2
    assert model(torch.tensor([0, 0]), torch.tensor([0, 0]), torch.tensor([1, 2])).tolist() == [1.0, -2.0]
    all_tails = model(torch.tensor([0]), torch.tensor([0]))
    assert all_tails.shape == (1, 3) and all_tails[0, 1:].tolist() == [1.0, -2.0]
    picked = model(torch.tensor([0]), torch.tensor([0]), candidates=torch.tensor([2]))
    assert picked.tolist() == [[-2.0]]


def test_unknown_names_are_refused_and_old_folders_still_load():
    with pytest.raises(ValueError, match="unknown encoder"):
        LPConfig(encoder="gat")
    model = LinkPredictor(num_entities=3, num_relations=1, config=LPConfig(rank=2))
    legacy = {"entity.weight": torch.ones(3, 4), "decoder.relation.weight": torch.zeros(2, 4)}
    model.load_state_dict(legacy)  # saved before encoders had a registry
    assert torch.equal(model.entities(), torch.ones(3, 4))
