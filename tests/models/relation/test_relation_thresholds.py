"""bench/extraction_precision.py --relation-thresholds: a bar per relation, applied through the shared
threshold by moving each fact's score."""

from functools import partial
from pathlib import Path

import torch

from bench.extraction_precision import impostor_thresholds, rates, relative_to
from kgrel.app.config import Settings
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.prototypes import InstanceViewCache, PrototypeCache, PrototypicalClassifier
from kgrel.models.relation.verifier import VerifiedScores

DATA = Path(__file__).resolve().parents[2] / "data"


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


def test_the_bars_are_set_on_the_scores_the_queries_get(model):
    # Where the verifier is pooled (here every relation has one example), the queries are scored pooled, so
    # the bars must be too: measured on the model's own scores they would sit on another scale.
    data = load_fewrel(DATA / "tiny_biomed.json")
    info = load_side_info(DATA / "tiny_biomed_side_info.json")
    classifier, views = PrototypicalClassifier(model), InstanceViewCache(model)
    examples = {r: [(f"{r}-0", items[0])] for r, items in data.items()}
    protos = PrototypeCache(model, views).build([info[r] for r in sorted(data)], examples)
    verified = VerifiedScores.load(Settings().verifier_location())
    pooled = partial(verified.for_pairs, side_weight=model.config.side_weight)
    alone = impostor_thresholds(classifier, views, protos, examples, 0.9, 0.0)
    with_verifier = impostor_thresholds(classifier, views, protos, examples, 0.9, 0.0, pooled)
    assert alone.shape == with_verifier.shape == (len(data),)
    assert not torch.allclose(alone, with_verifier, atol=1e-3)
