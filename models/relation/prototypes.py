"""Prototypical network with side information.

For relation r with K examples and side information d_r, a query q scores

    s(q, r) = (K * cos(e(q), mean_k e(x_k)) + beta * cos(z(q), d_r)) / (K + beta)

where e is the example view, z the side view of the query, d_r the encoded side information
(label, synonyms, description, domain/range classes) and beta (`side_weight`) counts the side
information as that many examples: K = 0 is zero-shot, and examples take over as K grows.
Scores become probabilities with a per-K calibration, and "none of the above" is the answer
when no candidate reaches the threshold (`none_of_the_above`: the one place that decides it).
`predict` asks every pair both ways and keeps one direction per fact (`direction.orient`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kgrel.kg.ontology import RelationInfo
from kgrel.models.lru import LruCache
from kgrel.models.relation.direction import RelationAlgebra, orient
from kgrel.models.relation.evidence import Evidence
from kgrel.models.relation.instances import RelationInstance
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
    algebra: RelationAlgebra | None = None  # symmetric / inverse; None: every relation asymmetric
    texts: list[str] | None = None  # each relation's side-information text (`PrototypeCache.build`), as encoded

    def __post_init__(self):
        self._index = {iri: i for i, iri in enumerate(self.iris)}
        if self.has_side is None:
            self.has_side = torch.ones(len(self.iris), dtype=torch.bool)
        if self.algebra is None:
            self.algebra = RelationAlgebra.asymmetric(len(self.iris))

    def __len__(self) -> int:
        return len(self.iris)

    def index(self, iri: str) -> int | None:
        return self._index.get(iri)


@dataclass
class Prediction:
    relation: str
    label: str
    score: float  # calibrated probability that the relation holds between the two mentions
    reversed: bool = False  # the fact is (tail, relation, head): the pair holds the other way round


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
    """Builds PrototypeSets and remembers embeddings, so a change re-encodes only what changed.

    Examples are encoded through `views` (by example id), which can be shared with whoever asks the
    examples as queries (`example_threshold`), so that each example is encoded as asked only once."""

    def __init__(self, model: RelationModel, views: InstanceViewCache | None = None):
        self.model = model
        self.views = views or InstanceViewCache(model)
        self._descriptions = LruCache(50_000)  # side-information text -> description view

    def build(self, relations: Sequence[RelationInfo],
              examples: Mapping[str, Sequence[tuple[str, RelationInstance]]] | None = None) -> PrototypeSet:
        """Prototypes of `relations`; `examples` maps a relation IRI to its (example id, instance) pairs."""
        examples = examples or {}
        texts = [relation_text(r) for r in relations]
        described = self._descriptions.fetch(texts, lambda missing: list(self.model.embed_descriptions(missing)))
        given = [(i, eid, inst) for i, r in enumerate(relations) for eid, inst in examples.get(r.iri, ())]
        example_sum = torch.zeros(len(relations), self._example_dim())
        k = torch.zeros(len(relations), dtype=torch.long)
        if given:
            views, _ = self.views.views([eid for _, eid, _ in given], [inst for _, _, inst in given])
            rows = torch.tensor([i for i, _, _ in given], dtype=torch.long)
            example_sum.index_add_(0, rows, views)
            k = torch.bincount(rows, minlength=len(relations))
        description = (torch.stack([described[t] for t in texts]) if texts
                       else torch.zeros(0, self.model.encoder.hidden_size))
        iris = [r.iri for r in relations]
        algebra = RelationAlgebra.of(iris, [r.reads_symmetric for r in relations], [r.inverse for r in relations])
        return PrototypeSet(iris, [r.label for r in relations], description, example_sum, k, algebra=algebra,
                            texts=texts)

    def _example_dim(self) -> int:
        heads = self.model.heads
        return heads.dim if heads.trained else 3 * heads.hidden


def embed_both_ways(model: RelationModel, instances: Sequence[RelationInstance]
                    ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """(example, side) views of the instances as asked and reversed, from one reading of each."""
    return model.embed_both_ways(instances)


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


REVERSED_KEY = "~reversed"  # suffix of the key of an instance asked the other way round


def reversed_key(key: str) -> str:
    """The key of the same instance asked the other way round; reversing twice gives the key back, so a
    pair turned round finds both of its views already kept."""
    return key.removesuffix(REVERSED_KEY) if key.endswith(REVERSED_KEY) else key + REVERSED_KEY


class InstanceViewCache:
    """(example, side) views of instances known by a key (an example id, a labelling candidate), as asked and
    reversed, from one reading each; the `max_entries` most recently used kept (`models.lru.LruCache`)."""

    def __init__(self, model: RelationModel, max_entries: int = 100_000):
        self.model = model
        self._views = LruCache(max_entries)

    def views(self, keys: Sequence[str], instances: Sequence[RelationInstance]) -> tuple[torch.Tensor, torch.Tensor]:
        """(example, side) views of the instances as asked, each kept under its key."""
        return self.both_ways(keys, instances)[0]

    def both_ways(self, keys: Sequence[str], instances: Sequence[RelationInstance]
                  ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """The views of the instances as asked and reversed (`embed_both_ways`), kept under each key."""
        if not keys:
            empty = self.model.embed_instances([])
            return empty, empty
        instance_of = dict(zip(keys, instances, strict=True))
        # One reading gives both directions, kept once under the key it was asked by: a key whose reversed key is
        # kept is answered from that reading turned round (a pair swapped by the user or the model).
        kept_as = {k: (reversed_key(k), True) if k not in self._views and reversed_key(k) in self._views
                   else (k, False) for k in keys}
        asked_by = {kept: (k, turned) for k, (kept, turned) in kept_as.items()}

        def read(missing: list[str]) -> list:
            (example, side), (rev_example, rev_side) = self.model.embed_both_ways(
                [instance_of[asked_by[m][0]] for m in missing])
            out = []
            for i, m in enumerate(missing):
                asked, turned = (example[i], side[i]), (rev_example[i], rev_side[i])
                out.append((turned, asked) if asked_by[m][1] else (asked, turned))
            return out

        found = self._views.fetch([kept for kept, _ in kept_as.values()], read)
        views = {k: found[kept][::-1] if turned else found[kept] for k, (kept, turned) in kept_as.items()}
        asked = (torch.stack([views[k][0][0] for k in keys]), torch.stack([views[k][0][1] for k in keys]))
        turned = (torch.stack([views[k][1][0] for k in keys]), torch.stack([views[k][1][1] for k in keys]))
        return asked, turned


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
        fused = fused_similarity(example_q, side_q, protos.example_sum[idx], protos.description[idx],
                                 protos.k[idx], beta, evidence, self.model.config.graph_weights)
        # Measured against the none-of-the-above prototype: a pair like those that state nothing scores low.
        return fused - self.model.heads.nota_similarity(side_q.to(fused.dtype))

    def probabilities(self, example_q, side_q, protos: PrototypeSet, idx=None,
                      evidence: Evidence | None = None) -> torch.Tensor:
        """Calibrated probability that each candidate relation holds, (queries, candidates)."""
        if idx is None:
            idx = torch.arange(len(protos))
        scores = self.similarity(example_q, side_q, protos, idx, evidence)
        return self.model.calibration.probability(scores, protos.k[idx].expand_as(scores))

    def oriented(self, forward: tuple[torch.Tensor, torch.Tensor], backward: tuple[torch.Tensor, torch.Tensor],
                 protos: PrototypeSet, idx: torch.Tensor | None = None, evidence: Evidence | None = None,
                 backward_evidence: Evidence | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities of the facts (head r tail) and (tail r head), one direction per fact
        (`direction.orient`); `forward` and `backward` are the (example, side) views of the pairs as asked and
        reversed."""
        if idx is None:
            idx = torch.arange(len(protos))
        fwd = self.probabilities(*forward, protos, idx, evidence)
        bwd = self.probabilities(*backward, protos, idx, backward_evidence)
        return orient(fwd, bwd, protos.algebra.select(idx))

    def predict(self, instances: Sequence[RelationInstance], protos: PrototypeSet,
                candidates: Sequence[Sequence[int] | None] | None = None, top_k: int | Sequence[int] = 3,
                threshold: float | Sequence[float | None] | None = None,
                evidence: Evidence | None = None,
                backward_evidence: Evidence | None = None,
                default_threshold: float | None = None) -> list[InstancePrediction]:
        """Ranked facts for each instance, and whether the answer is none of the above.

        Each pair is scored as asked and reversed; a prediction with `reversed` set states the fact
        (tail, relation, head). `candidates[i]` restricts instance i to those relation indices; `top_k`
        and `threshold` are one value for all instances or one per instance (a None threshold:
        `default_threshold`, else the model's). `evidence` / `backward_evidence` (over instances x all
        relations) add the graph's say.
        """
        if not instances:
            return []
        n = len(instances)
        top_ks = [top_k] * n if isinstance(top_k, int) else list(top_k)
        default = self.model.config.nota_threshold if default_threshold is None else default_threshold
        thresholds = [threshold] * n if threshold is None or isinstance(threshold, float | int) else list(threshold)
        thresholds = [default if t is None else float(t) for t in thresholds]
        if len(protos) == 0:
            return [InstancePrediction([], True) for _ in instances]
        forward, backward = embed_both_ways(self.model, instances)
        if candidates is None or all(c is None for c in candidates):
            fwd, bwd = self.oriented(forward, backward, protos, None, evidence, backward_evidence)
            groups = [(list(range(n)), torch.arange(len(protos)), fwd, bwd)]
        else:
            groups = []
            for i, cand in enumerate(candidates):
                idx = torch.arange(len(protos)) if cand is None else torch.tensor(list(cand), dtype=torch.long)
                row = torch.tensor([i])
                ev = None if evidence is None else evidence.select(row, idx)
                bev = None if backward_evidence is None else backward_evidence.select(row, idx)
                fwd, bwd = self.oriented((forward[0][i:i + 1], forward[1][i:i + 1]),
                                         (backward[0][i:i + 1], backward[1][i:i + 1]), protos, idx, ev, bev)
                groups.append(([i], idx, fwd, bwd))
        by_instance: dict[int, InstancePrediction] = {}
        for rows, idx, fwd, bwd in groups:
            both = torch.cat([fwd, bwd], dim=1)  # columns: relations as asked, then reversed
            r = len(idx)
            top = torch.topk(both, k=min(max(top_ks[row] for row in rows), r), dim=1)
            for row, values, positions in zip(rows, top.values.tolist(), top.indices.tolist(), strict=True):
                preds = [Prediction(protos.iris[idx[p % r]], protos.labels[idx[p % r]], round(v, 4), p >= r)
                         for v, p in zip(values, positions, strict=True) if v > 0][:top_ks[row]]
                nota = not preds or bool(none_of_the_above(preds[0].score, thresholds[row]))
                by_instance[row] = InstancePrediction(preds, nota)
        return [by_instance[i] for i in range(n)]
