"""Graph evidence for relation classification, fused into the prototypical score.

When a mention is linked to a graph entity, the graph says three things about (query q, relation r),
each a similarity in [-1, 1] that exists only where the graph knows enough:

- hypernyms: the class labels of the head entity (rdf:type / rdfs:subClassOf*) against the relation's
  domain classes, and the tail's against its range (declared, or observed from the relation's facts);
  an undirected variant, hypernym_text, compares "head: ... tail: ..." with the whole side information;
- argument fit: cos(e_h, mean head of r) and cos(e_t, mean tail of r) in the graph-embedding space,
  for relations with facts in the graph (the relation's prototype in the graph);
- plausibility: the link predictor's percentile of (h, r, t) among all tails of (h, r), as 2p - 1.

They join the score as extra pseudo-examples, like the side information:

    s(q, r) = (K·ex + beta·side + sum_f w_f·m_f·g_f) / (K + beta + sum_f w_f·m_f)

with m_f the availability of evidence f, so an unlinked mention scores exactly as without the graph
(models.proto.fused_similarity computes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from models.kg_embeddings import KGEmbeddings


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

    def hypernym_text(self) -> str | None:
        parts = []
        if self.head.hypernyms:
            parts.append("head: " + ", ".join(self.head.hypernyms[:4]))
        if self.tail.hypernyms:
            parts.append("tail: " + ", ".join(self.tail.hypernyms[:4]))
        return ". ".join(parts) or None


@dataclass
class Evidence:
    """(queries, relations) scores and availability masks, one pair per kind of evidence."""

    scores: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]

    def select(self, rows, cols) -> Evidence:
        return Evidence({k: v[rows][:, cols] for k, v in self.scores.items()},
                        {k: v[rows][:, cols] for k, v in self.masks.items()})


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


def _encode_label_lists(model, lists: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
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
    def encode(cls, model, relation_args: Sequence[tuple[Sequence[str], Sequence[str]]]) -> RelationArguments:
        domains, has_domain = _encode_label_lists(model, [d for d, _ in relation_args])
        ranges, has_range = _encode_label_lists(model, [r for _, r in relation_args])
        return cls(domains, has_domain, ranges, has_range)


def hypernym_evidence(model, contexts: Sequence[GraphContext],
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


def hypernym_text_evidence(model, contexts: Sequence[GraphContext],
                           descriptions: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Undirected: cos(encoded "head: ... tail: ..." hypernym text, the relation's side information)."""
    texts = [c.hypernym_text() for c in contexts]
    scores = torch.zeros(len(contexts), descriptions.shape[0])
    mask = torch.zeros_like(scores, dtype=torch.bool)
    rows = [i for i, t in enumerate(texts) if t]
    if rows:
        encoded = model.embed_descriptions([texts[i] for i in rows])
        scores[rows] = encoded @ descriptions.T
        mask[rows] = True
    return scores, mask


@torch.no_grad()
def kg_evidence(profile: RelationGraphProfile, contexts: Sequence[GraphContext]) -> dict[str, tuple[torch.Tensor, ...]]:
    """Argument fit and plausibility of each query's linked entities under each relation."""
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


def gather_evidence(model, contexts: Sequence[GraphContext], descriptions: torch.Tensor,
                    profile: RelationGraphProfile | None, arguments: RelationArguments | None = None) -> Evidence:
    """All kinds of evidence for queries x relations; `arguments` encodes each relation's domain and range."""
    scores, masks = {}, {}
    weights = getattr(model.config, "graph_weights", {})
    if arguments is not None:
        scores["hypernyms"], masks["hypernyms"] = hypernym_evidence(model, contexts, arguments)
    if weights.get("hypernym_text"):
        scores["hypernym_text"], masks["hypernym_text"] = hypernym_text_evidence(model, contexts, descriptions)
    if profile is not None:
        for name, (s, m) in kg_evidence(profile, contexts).items():
            scores[name], masks[name] = s, m
    return Evidence(scores, masks)
