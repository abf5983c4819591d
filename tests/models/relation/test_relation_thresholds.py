"""bench/extraction_precision.py --relation-thresholds: a bar per relation, applied through the shared
threshold by moving each fact's score."""

import torch

from bench.extraction_precision import rates, relative_to


def asks(scores, relations, correct):
    fact = (torch.tensor(scores), torch.tensor(correct), torch.tensor(relations))
    n = len(scores)
    nothing = (torch.zeros(n), torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.long))
    return {"asked": fact, "flipped": nothing, "flipped_false": nothing,
            "gold_removed": (torch.tensor(scores), torch.zeros(n, dtype=torch.bool), torch.tensor(relations))}


def test_a_relation_with_a_higher_bar_keeps_fewer_facts():
    out = asks([0.7, 0.7, 0.55], [0, 1, 0], [True, True, False])
    shared = rates(out, 0.6)
    assert shared["right_relation"] == round(2 / 3, 4) and shared["nota_recall"] == round(1 / 3, 4)
    # Relation 1 must reach 0.8: its 0.7 is dropped, relation 0's 0.7 still passes its 0.6.
    barred = rates(relative_to(out, torch.tensor([0.6, 0.8]), 0.6), 0.6)
    assert barred["right_relation"] == round(1 / 3, 4) and barred["nota_recall"] == round(2 / 3, 4)
    # Bars equal to the shared threshold change nothing.
    assert rates(relative_to(out, torch.tensor([0.6, 0.6]), 0.6), 0.6) == shared
