"""Leave-one-out quality of a relation's examples, on hand-made scores."""

from __future__ import annotations

import torch

from kgrel.models.relation.quality import leave_one_out


def test_leave_one_out_curve_and_confusions_on_known_scores():
    # 3 examples of relation 0 against relations 1 and 2; relation 0's own score is rescored by the
    # function below: example i scores 0.9 with any other example in the prototype, 0.1 without.
    base = torch.tensor([[0.0, 0.5, 0.2], [0.0, 0.3, 0.95], [0.0, 0.4, 0.1]])

    def own(i, others):
        return 0.9 if others else 0.1

    curve, confusions = leave_one_out(base, 0, own)
    # k=1: side information only, 0.1 loses to 0.5; from k=2 on, example 1 loses to relation 2 (0.95).
    assert [p["accuracy"] for p in curve] == [0.0, 0.5, round(2 / 3, 4)]
    assert confusions == {2: 1}
