"""Heads, the fused prototypical score, calibration and the none-of-the-above decision, by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from kgrel.models.relation.active_learning import informativeness, rank_for_labelling
from kgrel.models.relation.calibration import MAX_K, Calibration
from kgrel.models.relation.encoder import InstanceEncoding
from kgrel.models.relation.evidence import Evidence
from kgrel.models.relation.heads import RelationHeads
from kgrel.models.relation.prototypes import best_relations, fused_similarity, none_of_the_above


def unit(*values):
    return F.normalize(torch.tensor([list(values)], dtype=torch.float32), dim=-1)


def test_untrained_heads_are_fixed_read_outs():
    enc = InstanceEncoding(unit(1, 0), unit(0, 1), unit(1, 1))
    views = RelationHeads(hidden=2)(enc)
    expected = torch.cat([enc.sentence, enc.head, enc.tail], dim=-1) / math.sqrt(3)
    assert torch.allclose(views.example, expected)
    assert torch.equal(views.side, enc.sentence) and torch.equal(views.description, enc.sentence)


def test_trained_heads_start_where_the_untrained_read_outs_are():
    # At reset: example_proj = [I 0], side_proj = [0 I I 0], description_proj = identity; all normalised.
    enc = InstanceEncoding(unit(1, 0), unit(0, 1), unit(1, 1))
    trained, untrained = RelationHeads(hidden=2, dim=6)(enc), RelationHeads(hidden=2)(enc)
    assert torch.allclose(trained.example, untrained.example, atol=1e-6)  # |[s; h; t]| = sqrt(3)
    # The side view starts from the sentence and the two entities together: norm(s + h + t).
    assert torch.allclose(trained.side, F.normalize(enc.sentence + enc.head + enc.tail, dim=-1), atol=1e-6)
    assert torch.allclose(trained.description, untrained.description)
    # Types and the context query start at nothing: a type changes no view until training weighs it.
    typed = InstanceEncoding(enc.sentence, enc.head, enc.tail, unit(0, 1), unit(1, 0))
    assert torch.allclose(RelationHeads(hidden=2, dim=6).pair_views(typed)[1], trained.side, atol=1e-6)
    # The none-of-the-above prototype: cos(side, nota); untrained heads have none.
    heads = RelationHeads(hidden=2, dim=6)
    with torch.no_grad():
        heads.nota.copy_(torch.tensor([0.0, 3.0]))
    assert heads.nota_similarity(unit(0.6, 0.8)).item() == pytest.approx(0.8)
    assert RelationHeads(hidden=2).nota_similarity(unit(0.6, 0.8)).item() == 0


def test_fused_similarity_weights_examples_side_information_and_evidence():
    # One query, one relation with K = 2 examples summing to [2, 0] and side information [0.6, 0.8]:
    # cos(example) = 1, cos(side) = 0.8, beta = 1  ->  (2 * 1 + 1 * 0.8) / (2 + 1) = 0.9333
    example_q, side_q = unit(1, 0), unit(0, 1)
    example_sum, description = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.6, 0.8]])
    k = torch.tensor([2])
    score = fused_similarity(example_q, side_q, example_sum, description, k, 1.0)
    assert score.item() == pytest.approx(2.8 / 3)
    # Evidence g = 0.5 with weight 2 counts as two more pseudo-examples: (2 + 0.8 + 2 * 0.5) / (3 + 2) = 0.76
    found = Evidence({"hypernyms": torch.tensor([[0.5]])}, {"hypernyms": torch.tensor([[True]])})
    assert fused_similarity(example_q, side_q, example_sum, description, k, 1.0, found,
                            {"hypernyms": 2.0}).item() == pytest.approx(0.76)
    # Where the evidence is missing, the score is exactly the text-only one.
    missing = Evidence({"hypernyms": torch.tensor([[0.5]])}, {"hypernyms": torch.tensor([[False]])})
    assert fused_similarity(example_q, side_q, example_sum, description, k, 1.0, missing,
                            {"hypernyms": 2.0}).item() == pytest.approx(2.8 / 3)
    # K = 0: side information alone.
    assert fused_similarity(example_q, side_q, torch.zeros(1, 2), description, torch.tensor([0]),
                            1.0).item() == pytest.approx(0.8)


def test_calibration_is_a_sigmoid_per_k():
    calibration = Calibration({0: (10.0, -5.0), 1: (4.0, -2.0)})
    p = calibration.probability(torch.tensor([0.5, 1.0, 1.0]), torch.tensor([0, 1, 7]))
    # K=0: sigmoid(10 * 0.5 - 5) = 0.5; K=1: sigmoid(4 - 2); K=7 uses MAX_K, unfitted -> nearest fitted K (1)
    expected = torch.sigmoid(torch.tensor([0.0, 2.0, 2.0]))
    assert torch.allclose(p, expected) and MAX_K == 5
    assert Calibration.from_json(calibration.to_json()).params == calibration.params
    assert Calibration().probability(torch.tensor([0.5]), torch.tensor([0])).item() == pytest.approx(0.5)


def test_none_of_the_above_is_one_threshold_on_the_best_probability():
    assert none_of_the_above(0.49, 0.5) and not none_of_the_above(0.5, 0.5)
    probs = torch.tensor([[0.2, 0.7, 0.1], [0.6, 0.3, 0.9]])
    assert best_relations(probs) == ([pytest.approx(0.7), pytest.approx(0.9)], [1, 2])
    assert best_relations(probs, keep=[0]) == ([pytest.approx(0.2), pytest.approx(0.6)], [0, 0])


def test_informativeness_peaks_at_the_threshold_the_service_decides_at():
    p = torch.tensor([0.0, 0.25, 0.5, 0.7, 0.85, 1.0])
    assert informativeness(p).tolist() == pytest.approx([0.0, 0.5, 1.0, 0.6, 0.3, 0.0])  # 1 - |2p - 1|
    # With the threshold at 0.7: p / 0.7 below it, (1 - p) / 0.3 above it.
    assert informativeness(p, 0.7).tolist() == pytest.approx([0.0, 0.25 / 0.7, 0.5 / 0.7, 1.0, 0.5, 0.0])
    # Without diversity the most informative come first: at 0.5, p = 0.5; at 0.7, p = 0.7.
    vectors = torch.eye(6)
    assert rank_for_labelling(p, vectors, 2, diversity=0.0) == [2, 3]
    assert rank_for_labelling(p, vectors, 2, diversity=0.0, threshold=0.7) == [3, 2]
