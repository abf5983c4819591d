"""The none-of-the-above threshold from the user's examples: the quantile by hand, the stable sample, and
with the shipped model, that an example's own relation and its inverse never count as "another relation"."""

from __future__ import annotations

import pytest
import torch

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.example_threshold import (
    MAX_ASKED,
    example_threshold,
    sample_examples,
    weighted_quantile,
)
from kgrel.models.relation.fewrel import load_fewrel, load_side_info
from kgrel.models.relation.instances import Mention, make_instance
from kgrel.models.relation.prototypes import InstanceViewCache, PrototypeCache, PrototypicalClassifier
from tests.conftest import DATA


def test_weighted_quantile_by_hand():
    values = torch.tensor([0.4, 0.1, 0.3, 0.2])
    equal = torch.ones(4)
    # Sorted values sit at the midpoints of their weights: 0.125, 0.375, 0.625, 0.875.
    assert weighted_quantile(values, equal, 0.5) == pytest.approx(0.25)
    assert weighted_quantile(values, equal, 0.75) == pytest.approx(0.35)
    assert weighted_quantile(values, equal, 0.9) == pytest.approx(0.4)  # past the last midpoint: the largest
    assert weighted_quantile(values, equal, 0.1) == pytest.approx(0.1)
    # 0.1 weighs three times 0.9: midpoints 0.375 and 0.875, so the median is a quarter of the way up.
    assert weighted_quantile(torch.tensor([0.9, 0.1]), torch.tensor([1.0, 3.0]), 0.5) == pytest.approx(0.3)


def test_the_sample_of_asked_examples_stays_as_examples_are_added():
    ids = [f"urn:example:{i}" for i in range(MAX_ASKED + 40)]
    assert sample_examples(ids[:10]) == list(range(10))
    chosen = {ids[i] for i in sample_examples(ids)}
    assert len(chosen) == MAX_ASKED
    grown = ids + ["urn:example:new"]
    after = {grown[i] for i in sample_examples(grown)}
    assert len(after) == MAX_ASKED and after - chosen <= {"urn:example:new"} and len(chosen - after) <= 1


SENTENCES = [  # (text, head, tail) of "composed by": the work first, its composer second
    ("The Magic Flute was composed by Mozart .", "The Magic Flute", "Mozart"),
    ("Carmen was written by Georges Bizet .", "Carmen", "Georges Bizet"),
    ("Tosca is an opera by Giacomo Puccini .", "Tosca", "Giacomo Puccini"),
    ("The Rite of Spring was composed by Igor Stravinsky .", "The Rite of Spring", "Igor Stravinsky"),
]
OTHERS = [  # one example each of three unrelated relations
    ("capital", "Paris is the capital of France .", "Paris", "France"),
    ("employer", "Alice works for Acme Corporation .", "Alice", "Acme Corporation"),
    ("birthplace", "Bob was born in Lyon .", "Bob", "Lyon"),
]


def _instance(text: str, head: str, tail: str):
    h, t = text.index(head), text.index(tail)
    return make_instance(text, Mention(h, h + len(head)), Mention(t, t + len(tail)))


def _threshold(model, declare_inverse: bool, recall: float | None = 0.9, relatives: bool = False):
    composed = RelationInfo("ex:composedBy", "composed by", description="the work was composed by this composer",
                            inverse="ex:composerOf" if declare_inverse else None)
    composer_of = RelationInfo("ex:composerOf", "composer of", description="the composer wrote this work",
                               inverse="ex:composedBy" if declare_inverse else None)
    relations = [composed, composer_of] + [RelationInfo(f"ex:{r}", r) for r, *_ in OTHERS]
    if relatives:  # relations without examples that read the examples as well as their own relations do
        relations += [RelationInfo("ex:composer", "composer", description="the composer of a musical work"),
                      RelationInfo("ex:capitalOf", "capital of", description="the capital city of a country")]
    examples = {"ex:composedBy": [(f"c{i}", _instance(*s)) for i, s in enumerate(SENTENCES)],
                "ex:composerOf": [(f"o{i}", _instance(text, tail, head)) for i, (text, head, tail) in
                                  enumerate(SENTENCES[:2])]}
    for r, text, head, tail in OTHERS:
        examples[f"ex:{r}"] = [(r, _instance(text, head, tail))]
    protos = PrototypeCache(model).build(relations, examples)
    return example_threshold(PrototypicalClassifier(model), InstanceViewCache(model), protos, examples, recall)


def test_an_example_is_never_asked_against_its_own_relations_inverse(model):
    declared = _threshold(model, declare_inverse=True)
    undeclared = _threshold(model, declare_inverse=False)
    assert declared.asked == undeclared.asked == 9 and declared.relations == 5
    # Undeclared, a "composed by" sentence reversed reads as "composer of": a right reading, taken for a
    # wrong one, so the threshold goes up. Declared inverses are left out of each other's asks.
    assert ("ex:composedBy", "ex:composerOf") in {(c.relation, c.read_as) for c in undeclared.highest}
    assert all({c.relation, c.read_as} != {"ex:composedBy", "ex:composerOf"} for c in declared.highest)
    assert declared.from_examples < undeclared.from_examples
    for t in (declared, undeclared):
        assert t.serving == max(t.model, t.from_examples)
        assert [c.score for c in t.highest] == sorted((c.score for c in t.highest), reverse=True)


def test_relations_without_examples_are_not_asked_against(model):
    """A large ontology has a near relative of most relations; only the relations the user gave
    examples of are asked against, so relatives without examples do not lift the threshold."""
    plain = _threshold(model, declare_inverse=True)
    with_relatives = _threshold(model, declare_inverse=True, relatives=True)
    assert with_relatives.from_examples == pytest.approx(plain.from_examples, abs=1e-4)
    assert with_relatives.highest == plain.highest


def test_too_few_examples_or_turned_off_keep_the_models_threshold(model):
    off = _threshold(model, declare_inverse=True, recall=None)
    assert off.from_examples is None and off.serving == model.config.nota_threshold
    classifier = PrototypicalClassifier(model)
    relations = [RelationInfo(f"ex:{r}", r) for r, *_ in OTHERS]
    examples = {f"ex:{r}": [(r, _instance(text, head, tail))] for r, text, head, tail in OTHERS}  # 3 examples
    few = example_threshold(classifier, InstanceViewCache(model), PrototypeCache(model).build(relations, examples),
                            examples, 0.9)
    assert few.from_examples is None and few.asked == 3 and few.serving == model.config.nota_threshold


def test_biomedical_examples_raise_the_threshold_of_the_shipped_model(model):
    """The shipped calibration was fitted on Wikipedia and news text; biomedical text scores wrong
    relations higher, and one example of each of eight relations shows it (README, "Your examples set
    the bar")."""
    data = load_fewrel(DATA / "tiny_biomed.json")
    side_info = load_side_info(DATA / "tiny_biomed_side_info.json")
    relations = [side_info[r] for r in sorted(data)]
    examples = {side_info[r].iri: [(f"{r}-0", data[r][0])] for r in sorted(data)}
    protos = PrototypeCache(model).build(relations, examples)
    found = example_threshold(PrototypicalClassifier(model), InstanceViewCache(model), protos, examples, 0.9)
    assert found.asked == 8 and found.relations == 8
    assert found.from_examples > model.config.nota_threshold + 0.1
    assert found.serving == found.from_examples
