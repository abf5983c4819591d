"""Prototypical network with side information.

For relation r with K examples and side information d_r, a query q scores

    s(q, r) = (K * cos(e(q), mean_k e(x_k)) + beta * cos(z(q), d_r)) / (K + beta)

where e is the example view, z the side view of the query, d_r the encoded side information
(label, synonyms, description, domain/range classes) and beta (`side_weight`) counts the side
information as that many examples: K = 0 is zero-shot, and examples take over as K grows.
Scores become probabilities with a per-K calibration, and "none of the above" is the answer
when no candidate reaches the threshold (`none_of_the_above`: the one place that decides it).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.evidence import Evidence
from kgrel.models.relation.instances import Mention, RelationInstance, make_instance
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.side_info import relation_text


@dataclass
class PrototypeSet:
    """Everything needed to score queries against a set of relations, cached between requests."""

    iris: list[str]
    labels: list[str]
    description: torch.Tensor  # (R, H) description view of each relation's side information
    example_sum: torch.Tensor  # (R, D) sum of example views (zero where K = 0)
    k: torch.Tensor  # (R,) number of examples
    has_side: torch.Tensor | None = None  # (R,) bool; False where no side information is known

    def __post_init__(self):
        self._index = {iri: i for i, iri in enumerate(self.iris)}
        if self.has_side is None:
            self.has_side = torch.ones(len(self.iris), dtype=torch.bool)

    def __len__(self) -> int:
        return len(self.iris)

    def index(self, iri: str) -> int | None:
        return self._index.get(iri)


@dataclass
class Prediction:
    relation: str
    label: str
    score: float  # calibrated probability that the relation holds between the two mentions


@dataclass
class InstancePrediction:
    predictions: list[Prediction]
    none_of_the_above: bool


def fused_similarity(example_q: torch.Tensor, side_q: torch.Tensor, example_sum: torch.Tensor,
                     description: torch.Tensor, k: torch.Tensor, beta: torch.Tensor | float,
                     evidence: Evidence | None = None, weights: dict[str, float] | None = None) -> torch.Tensor:
    """s(q, r) of the module docstring for queries x relations; differentiable, used by training too.

    `evidence` adds evidence from outside the text (the graph) as weighted pseudo-examples where it
    exists; without it the score is the text-only one.
    """
    k = k.to(example_q.dtype)
    numerator = k * (example_q @ F.normalize(example_sum, dim=-1).T) + beta * (side_q @ description.T)
    denominator = (k + beta).expand_as(numerator)
    if evidence is not None:
        for name, score in evidence.scores.items():
            w = (weights or {}).get(name, 0.0) * evidence.masks[name].to(score.dtype)
            numerator = numerator + w * score
            denominator = denominator + w
    return numerator / denominator.clamp(min=1e-6)


class PrototypeCache:
    """Builds PrototypeSets and remembers embeddings, so a change re-encodes only what changed."""

    def __init__(self, model: RelationModel):
        self.model = model
        self._descriptions: dict[str, torch.Tensor] = {}  # side-information text -> description view
        self._examples: dict[str, torch.Tensor] = {}  # example id -> example view

    def build(self, relations: Sequence[RelationInfo],
              examples: Mapping[str, Sequence[tuple[str, RelationInstance]]] | None = None) -> PrototypeSet:
        """Prototypes of `relations`; `examples` maps a relation IRI to its (example id, instance) pairs."""
        examples = examples or {}
        texts = [relation_text(r) for r in relations]
        missing = [t for t in dict.fromkeys(texts) if t not in self._descriptions]
        if missing:
            for text, vec in zip(missing, self.model.embed_descriptions(missing), strict=True):
                self._descriptions[text] = vec
        pending = [(eid, inst) for r in relations for eid, inst in examples.get(r.iri, ())
                   if eid not in self._examples]
        if pending:
            views, _ = self.model.embed_instances([inst for _, inst in pending])
            for (eid, _), vec in zip(pending, views, strict=True):
                self._examples[eid] = vec
        dim = next(iter(self._examples.values())).shape[-1] if self._examples else self._example_dim()
        example_sum = torch.zeros(len(relations), dim)
        k = torch.zeros(len(relations), dtype=torch.long)
        for i, r in enumerate(relations):
            ids = [eid for eid, _ in examples.get(r.iri, ())]
            if ids:
                example_sum[i] = torch.stack([self._examples[e] for e in ids]).sum(0)
                k[i] = len(ids)
        description = (torch.stack([self._descriptions[t] for t in texts]) if texts
                       else torch.zeros(0, self.model.encoder.hidden_size))
        return PrototypeSet([r.iri for r in relations], [r.label for r in relations], description, example_sum, k)

    def _example_dim(self) -> int:
        heads = self.model.heads
        return heads.dim if heads.trained else 3 * heads.hidden


def none_of_the_above(top_probability: torch.Tensor | float, threshold: float) -> torch.Tensor | bool:
    """The answer is "none of the above" when the best candidate's probability is under the threshold."""
    return top_probability < threshold


def best_relations(probabilities: torch.Tensor, keep: Sequence[int] | None = None) -> tuple[list[float], list[int]]:
    """Each row's best probability and its relation index, among the `keep` columns when given."""
    if keep is not None:
        masked = torch.full_like(probabilities, -1.0)
        keep_t = torch.tensor(list(keep), dtype=torch.long)
        masked[:, keep_t] = probabilities[:, keep_t]
        probabilities = masked
    best = probabilities.max(1)
    return best.values.tolist(), best.indices.tolist()


class InstanceViewCache:
    """(example, side) views of instances known by a key (a labelling candidate), encoded once."""

    def __init__(self, model: RelationModel, max_entries: int = 100_000):
        self.model = model
        self.max_entries = max_entries
        self._views: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._lock = threading.Lock()

    def views(self, keys: Sequence[str], instances: Sequence[RelationInstance]) -> tuple[torch.Tensor, torch.Tensor]:
        missing = [(k, x) for k, x in zip(keys, instances, strict=True) if k not in self._views]
        if missing:
            example, side = self.model.embed_instances([x for _, x in missing])
            with self._lock:
                if len(self._views) + len(missing) > self.max_entries:
                    self._views.clear()
                for (k, _), e, s in zip(missing, example, side, strict=True):
                    self._views[k] = (e, s)
        if not keys:
            return self.model.embed_instances([])
        return (torch.stack([self._views[k][0] for k in keys]), torch.stack([self._views[k][1] for k in keys]))


class PrototypicalClassifier:
    """Scores relation instances against a PrototypeSet and decides none-of-the-above."""

    def __init__(self, model: RelationModel):
        self.model = model

    def similarity(self, example_q: torch.Tensor, side_q: torch.Tensor, protos: PrototypeSet,
                   idx: torch.Tensor | None = None, evidence: Evidence | None = None) -> torch.Tensor:
        """Fused similarity s(q, r), shape (queries, candidates); `evidence` covers those candidates."""
        if idx is None:
            idx = torch.arange(len(protos))
        beta = self.model.config.side_weight * protos.has_side[idx].to(example_q.dtype)
        return fused_similarity(example_q, side_q, protos.example_sum[idx], protos.description[idx],
                                protos.k[idx], beta, evidence, self.model.config.graph_weights)

    def probabilities(self, example_q, side_q, protos: PrototypeSet, idx=None,
                      evidence: Evidence | None = None) -> torch.Tensor:
        """Calibrated probability that each candidate relation holds, (queries, candidates)."""
        if idx is None:
            idx = torch.arange(len(protos))
        scores = self.similarity(example_q, side_q, protos, idx, evidence)
        return self.model.calibration.probability(scores, protos.k[idx].expand_as(scores))

    def predict(self, instances: Sequence[RelationInstance], protos: PrototypeSet,
                candidates: Sequence[Sequence[int] | None] | None = None, top_k: int | Sequence[int] = 3,
                threshold: float | Sequence[float | None] | None = None,
                evidence: Evidence | None = None) -> list[InstancePrediction]:
        """Ranked relations for each instance, and whether the answer is none of the above.

        `candidates[i]` restricts instance i to those relation indices; `top_k` and `threshold` are one
        value for all instances or one per instance (a None threshold: the model's). `evidence`
        (over instances x all relations) adds the graph's say.
        """
        if not instances:
            return []
        n = len(instances)
        top_ks = [top_k] * n if isinstance(top_k, int) else list(top_k)
        default = self.model.config.nota_threshold
        thresholds = [threshold] * n if threshold is None or isinstance(threshold, float | int) else list(threshold)
        thresholds = [default if t is None else float(t) for t in thresholds]
        if len(protos) == 0:
            return [InstancePrediction([], True) for _ in instances]
        example_q, side_q = self.model.embed_instances(list(instances))
        if candidates is None or all(c is None for c in candidates):
            probs = self.probabilities(example_q, side_q, protos, evidence=evidence)
            groups = [(list(range(n)), torch.arange(len(protos)), probs)]
        else:
            groups = []
            for i, cand in enumerate(candidates):
                idx = torch.arange(len(protos)) if cand is None else torch.tensor(list(cand), dtype=torch.long)
                ev = None if evidence is None else evidence.select(torch.tensor([i]), idx)
                groups.append(([i], idx, self.probabilities(example_q[i:i + 1], side_q[i:i + 1], protos, idx, ev)))
        by_instance: dict[int, InstancePrediction] = {}
        for rows, idx, probs in groups:
            top = torch.topk(probs, k=min(max(top_ks[r] for r in rows), probs.shape[1]), dim=1)
            for row, values, positions in zip(rows, top.values.tolist(), top.indices.tolist(), strict=True):
                preds = [Prediction(protos.iris[idx[p]], protos.labels[idx[p]], round(v, 4))
                         for v, p in zip(values, positions, strict=True)][:top_ks[row]]
                nota = not preds or bool(none_of_the_above(preds[0].score, thresholds[row]))
                by_instance[row] = InstancePrediction(preds, nota)
        return [by_instance[i] for i in range(n)]

    def infer(self, item: Mapping, protos: PrototypeSet) -> tuple[str | None, float]:
        """OpenNRE-style single prediction: ``{'text', 'h': {'pos': [s, e]}, 't': {'pos': [s, e]}}``."""
        inst = make_instance(item["text"], Mention(*item["h"]["pos"]), Mention(*item["t"]["pos"]))
        result = self.predict([inst], protos, top_k=1)[0]
        if result.none_of_the_above or not result.predictions:
            return None, result.predictions[0].score if result.predictions else 0.0
        return result.predictions[0].relation, result.predictions[0].score
