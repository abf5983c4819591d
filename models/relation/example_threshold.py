"""The none-of-the-above threshold, raised to what the user's own examples show of their text.

The shipped calibration makes a score of 0.5 mean "right half the time" on text like the text it was
fitted on. On text unlike it (biomedical), wrong relations score higher and none-of-the-above fails
(README, "Your examples set the bar"). The examples a user has labelled show how high: each example is
asked as the service asks a pair (both readings, one direction per fact) among the other relations that
have examples, leaving out its own and its inverse, so its best score is what a sentence of a relation
the graph does not have gets in this domain. The threshold becomes the `recall` quantile of those
scores (each relation weighing the same, so one relation with many examples does not set it alone): that
share of them would be answered none of the above. It is never lowered below the model's own threshold,
so on text like the calibration's it rarely moves. Graph evidence is left out: it is a property of the
text.

Only relations with examples are asked against: a large ontology (the 739 Wikidata properties of the
demo graph) has a near relative for most relations ("cause of death" and "manner of death"), which reads
an example as well as its own relation does, and would lift the threshold above 0.9 for everyone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from kgrel.models.relation.direction import best_facts
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.prototypes import InstanceViewCache, PrototypeSet, PrototypicalClassifier

MIN_RELATIONS = 3  # fewer relations with examples say nothing about "another relation"
MIN_EXAMPLES = 8  # fewer scores give no quantile worth trusting
MAX_ASKED = 512  # examples asked at most (a stable sample), so a large store rebuilds quickly


@dataclass
class Confusion:
    """An example's relation and the other relation it reads as best."""

    relation: str
    read_as: str
    score: float


@dataclass
class ExampleThreshold:
    """The model's threshold, the one the examples call for (None: too few examples) and the one serving."""

    model: float
    recall: float | None  # None: the examples do not move the threshold (turned off)
    from_examples: float | None = None
    asked: int = 0
    relations: int = 0
    highest: list[Confusion] = field(default_factory=list)  # the examples' best wrong readings, highest first

    @property
    def serving(self) -> float:
        return self.model if self.from_examples is None else max(self.model, self.from_examples)


def weighted_quantile(values: torch.Tensor, weights: torch.Tensor, q: float) -> float:
    """The q quantile of `values` weighted by `weights`, linear between the midpoints of the weights
    (with equal weights, value i of n sorted sits at (i - 0.5) / n)."""
    order = values.argsort()
    v, w = values[order].double(), weights[order].double()
    positions = (w.cumsum(0) - w / 2) / w.sum()
    if q <= positions[0]:
        return float(v[0])
    if q >= positions[-1]:
        return float(v[-1])
    upper = int(torch.searchsorted(positions, torch.tensor([q], dtype=positions.dtype)))
    lower = upper - 1
    share = (q - positions[lower]) / (positions[upper] - positions[lower])
    return float(v[lower] + share * (v[upper] - v[lower]))


def sample_examples(example_ids: Sequence[str], limit: int = MAX_ASKED) -> list[int]:
    """Positions of at most `limit` examples, chosen by a hash of their id: the same examples stay chosen
    as others are added, so the threshold does not jump with every new example."""
    if len(example_ids) <= limit:
        return list(range(len(example_ids)))
    ranked = sorted(range(len(example_ids)), key=lambda i: hashlib.sha1(example_ids[i].encode()).hexdigest())
    return sorted(ranked[:limit])


def example_threshold(classifier: PrototypicalClassifier, views: InstanceViewCache, protos: PrototypeSet,
                      examples: Mapping[str, Sequence[tuple[str, RelationInstance]]],
                      recall: float | None) -> ExampleThreshold:
    """The threshold the examples of `protos`' relations call for; `examples` maps a relation IRI to its
    (example id, instance) pairs and `views` keeps their encodings between rebuilds. Each example is asked
    among the other relations with examples but its inverse. `recall` None: the model's threshold."""
    pairs = [(i, eid, inst) for iri, items in examples.items() if (i := protos.index(iri)) is not None
             for eid, inst in items]
    pairs = [pairs[i] for i in sample_examples([eid for _, eid, _ in pairs])]
    relation_of = torch.tensor([i for i, _, _ in pairs], dtype=torch.long)
    relations = relation_of.unique().tolist()
    result = ExampleThreshold(classifier.model.config.nota_threshold, recall, asked=len(pairs),
                              relations=len(relations))
    if recall is None or len(relations) < MIN_RELATIONS or len(pairs) < MIN_EXAMPLES:
        return result
    forward, backward = views.both_ways([eid for _, eid, _ in pairs], [inst for _, _, inst in pairs])
    tops = torch.zeros(len(pairs))
    read_as = torch.zeros(len(pairs), dtype=torch.long)
    for r in relations:
        rows = (relation_of == r).nonzero().flatten()
        # Never empty: of at least MIN_RELATIONS (3) relations, only one is r's inverse.
        idx = torch.tensor([i for i in relations if i not in (r, int(protos.algebra.inverse[r]))], dtype=torch.long)
        fwd, bwd = classifier.oriented((forward[0][rows], forward[1][rows]), (backward[0][rows], backward[1][rows]),
                                       protos, idx)
        tops[rows], columns, _ = best_facts(fwd, bwd)
        read_as[rows] = idx[columns]
    counts = torch.bincount(relation_of, minlength=len(protos)).double()
    result.from_examples = round(weighted_quantile(tops, 1.0 / counts[relation_of], recall), 4)
    worst: dict[tuple[int, int], float] = {}
    for rel, other, score in zip(relation_of.tolist(), read_as.tolist(), tops.tolist(), strict=True):
        worst[(rel, other)] = max(score, worst.get((rel, other), 0.0))
    result.highest = [Confusion(protos.iris[rel], protos.iris[other], round(score, 4))
                      for (rel, other), score in sorted(worst.items(), key=lambda kv: -kv[1])[:3]]
    return result
