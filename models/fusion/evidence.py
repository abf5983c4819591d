"""What the graph knows of a linked pair, as evidence fused into the prototypical score.

When a mention is linked to a graph entity, the graph says three things about (query q, relation r),
each a similarity in [-1, 1] that exists only where the graph knows enough:

- hypernyms: the class labels of the head entity (rdf:type / rdfs:subClassOf*) against the relation's
  domain classes, and the tail's against its range (declared, or observed from the relation's facts);
- argument fit: cos(e_h, mean head of r) and cos(e_t, mean tail of r) in the graph-embedding space,
  for relations with facts in the graph (the relation's prototype in the graph);
- plausibility: the link predictor's percentile of (h, r, t) among all tails of (h, r), as 2p - 1;

They join the score as extra pseudo-examples, like the side information:

    s(q, r) = (K·ex + beta·side + sum_f w_f·m_f·g_f) / (K + beta + sum_f w_f·m_f)

with m_f the availability of evidence f, so an unlinked mention scores exactly as without the graph
(models.relation.prototypes.fused_similarity computes it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.graph.reasoner import GraphReasoner
from kgrel.models.lru import LruCache
from kgrel.models.relation.evidence import Evidence
from kgrel.models.relation.model import RelationModel

Facts = Callable[[str], list[tuple[str, str, str]]]


@dataclass
class LinkedMention:
    """What the graph knows of one mention."""

    entity: str | None = None
    hypernyms: list[str] = field(default_factory=list)
    vector: torch.Tensor | None = None


@dataclass
class GraphContext:
    head: LinkedMention
    tail: LinkedMention


class RelationGraphProfile:
    """Each relation's prototype in the graph: its decoder index and the mean embedding of its heads and tails."""

    def __init__(self, kg: KGEmbeddings, relation_iris: Sequence[str]):
        self.kg = kg
        self.index = [kg.relation_index(iri) for iri in relation_iris]
        dim = kg.entities.shape[1]
        self.heads = torch.zeros(len(relation_iris), dim)
        self.tails = torch.zeros(len(relation_iris), dim)
        self.known = torch.zeros(len(relation_iris), dtype=torch.bool)
        triples = kg.export.triples
        for i, rel in enumerate(self.index):
            if rel is None:
                continue
            rows = triples[triples[:, 1] == rel]
            if len(rows):
                self.heads[i] = F.normalize(kg.entities[rows[:, 0]], dim=1).mean(0)
                self.tails[i] = F.normalize(kg.entities[rows[:, 2]], dim=1).mean(0)
                self.known[i] = True


def _encode_label_lists(model: RelationModel, lists: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoded "a, b, c" texts of non-empty label lists, and which lists were non-empty."""
    present = torch.tensor([bool(labels) for labels in lists], dtype=torch.bool)
    out = torch.zeros(len(lists), model.encoder.hidden_size)
    rows = present.nonzero().flatten().tolist()
    if rows:
        out[rows] = model.embed_labels([", ".join(lists[i][:4]) for i in rows])
    return out, present


@dataclass
class RelationArguments:
    """Encoded domain and range class labels of each relation (computed once per set of relations)."""

    domains: torch.Tensor
    has_domain: torch.Tensor
    ranges: torch.Tensor
    has_range: torch.Tensor

    @classmethod
    def encode(cls, model: RelationModel,
               relation_args: Sequence[tuple[Sequence[str], Sequence[str]]]) -> RelationArguments:
        domains, has_domain = _encode_label_lists(model, [d for d, _ in relation_args])
        ranges, has_range = _encode_label_lists(model, [r for _, r in relation_args])
        return cls(domains, has_domain, ranges, has_range)


def hypernym_evidence(model: RelationModel, contexts: Sequence[GraphContext],
                      arguments: RelationArguments) -> tuple[torch.Tensor, ...]:
    """Directional type fit: head hypernyms vs the relation's domain classes, tail hypernyms vs its range
    (cosine of the encoded label lists, averaged over the sides both know)."""
    heads, has_head = _encode_label_lists(model, [c.head.hypernyms for c in contexts])
    tails, has_tail = _encode_label_lists(model, [c.tail.hypernyms for c in contexts])
    head_known = has_head[:, None] & arguments.has_domain[None, :]
    tail_known = has_tail[:, None] & arguments.has_range[None, :]
    head_fit = (heads @ arguments.domains.T) * head_known
    tail_fit = (tails @ arguments.ranges.T) * tail_known
    sides = head_known.float() + tail_known.float()
    return (head_fit + tail_fit) / sides.clamp(min=1), sides > 0


@torch.no_grad()
def kg_evidence(profile: RelationGraphProfile, contexts: Sequence[GraphContext],
                plausibility: bool = True) -> dict[str, tuple[torch.Tensor, ...]]:
    """Argument fit and (unless `plausibility` is False: another source gives it) plausibility of each
    query's linked entities under each relation."""
    q, r = len(contexts), len(profile.index)
    fit = torch.zeros(q, r)
    fit_mask = torch.zeros(q, r, dtype=torch.bool)
    plaus = torch.zeros(q, r)
    plaus_mask = torch.zeros(q, r, dtype=torch.bool)
    known_cols = profile.known.nonzero().flatten().tolist()
    if not known_cols:
        return {"argument_fit": (fit, fit_mask), "plausibility": (plaus, plaus_mask)}
    heads_n = F.normalize(profile.heads, dim=1)
    tails_n = F.normalize(profile.tails, dim=1)
    for i, ctx in enumerate(contexts):
        h, t = ctx.head.vector, ctx.tail.vector
        parts = []
        if h is not None:
            parts.append(heads_n[known_cols] @ F.normalize(h.float(), dim=0))
        if t is not None:
            parts.append(tails_n[known_cols] @ F.normalize(t.float(), dim=0))
        if parts:
            fit[i, known_cols] = torch.stack(parts).mean(0)
            fit_mask[i, known_cols] = True
    if not plausibility:
        return {"argument_fit": (fit, fit_mask)}
    both = [i for i, c in enumerate(contexts) if c.head.vector is not None and c.tail.vector is not None]
    if both:
        heads = torch.stack([contexts[i].head.vector.float() for i in both])
        tails = torch.stack([contexts[i].tail.vector.float() for i in both])
        decoder, entities = profile.kg.model.decoder, profile.kg.entities
        for j in known_cols:
            rel = torch.full((len(both),), profile.index[j], dtype=torch.long)
            query = decoder.query(heads, rel)
            target = (query * tails).sum(1, keepdim=True)
            percentile = ((query @ entities.T) < target).float().mean(1)
            plaus[both, j] = 2 * percentile - 1
            plaus_mask[both, j] = True
    return {"argument_fit": (fit, fit_mask), "plausibility": (plaus, plaus_mask)}


class UltraPlausibility:
    """Plausibility from ULTRA instead of the embeddings (`models.graph.reasoner`): for a pair whose
    entities are both in the graph, 2p - 1 with p the share of entities ULTRA ranks below the tail for
    (head, relation, ?), as for the embeddings. A percentile is near 1 for any tail of the right kind (a
    person working in Paris "lives in" Rome at the 94th percentile of a toy graph, at probability 0.28),
    but ULTRA's probability measured worse as evidence (dev relations, no embeddings, 500 episodes: K = 0
    0.818 against 0.830 with no graph, where the percentile gave 0.828).
    Nothing is trained, so it holds for entities ingested after any training; each
    (head, relation) costs a pass over the graph (relations without facts cost nothing), so values are kept
    (the `cache_size` most recently used) for as long as this graph is."""

    def __init__(self, reasoner: GraphReasoner, cache_size: int = 1_000_000):
        self.reasoner = reasoner
        self._values = LruCache(cache_size)

    def values(self, triples: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], float | None]:
        """The percentile of each (head, relation, tail); None where the graph has nothing to reason from."""
        return self._values.fetch(triples, self.reasoner.percentiles)

    def evidence(self, contexts: Sequence[GraphContext], relations: Sequence[str]) -> tuple[torch.Tensor, ...]:
        scores = torch.zeros(len(contexts), len(relations))
        mask = torch.zeros_like(scores, dtype=torch.bool)
        # Only what the graph can reason about is asked and kept: a pair is scored against every relation of
        # the graph (739 in the demo), few of which have facts.
        nodes, known = self.reasoner.export.node_index, self.reasoner.export.relation_index
        linked = [(i, c.head.entity, c.tail.entity) for i, c in enumerate(contexts)
                  if c.head.entity in nodes and c.tail.entity in nodes]
        columns = [(j, r) for j, r in enumerate(relations) if r in known]
        values = self.values([(h, r, t) for _, h, t in linked for _, r in columns])
        for i, h, t in linked:
            for j, r in columns:
                value = values[(h, r, t)]
                if value is not None:
                    scores[i, j], mask[i, j] = 2 * value - 1, True
        return scores, mask


def gather_evidence(model: RelationModel, contexts: Sequence[GraphContext], descriptions: torch.Tensor,
                    profile: RelationGraphProfile | None, arguments: RelationArguments | None = None,
                    ultra: tuple[UltraPlausibility, Sequence[str]] | None = None) -> Evidence:
    """All kinds of evidence for queries x relations; `arguments` encodes each relation's domain and range;
    `ultra` (with the relations' IRIs) gives the plausibility in place of the embeddings'."""
    scores, masks = {}, {}
    if arguments is not None:
        scores["hypernyms"], masks["hypernyms"] = hypernym_evidence(model, contexts, arguments)
    if profile is not None:
        for name, (s, m) in kg_evidence(profile, contexts, plausibility=ultra is None).items():
            scores[name], masks[name] = s, m
    if ultra is not None:
        scores["plausibility"], masks["plausibility"] = ultra[0].evidence(contexts, ultra[1])
    return Evidence(scores, masks)
