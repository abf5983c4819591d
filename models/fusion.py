"""Graph evidence for relation classification, fused into the prototypical score.

The only module that imports both the relation model (`models.relation`) and the graph model
(`models.graph`): it links mentions to the graph, turns what the graph knows into `Evidence`,
and gives the service one classifier that uses both.

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

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from kgrel.kg.entities import facts_of
from kgrel.kg.export import export_graph
from kgrel.kg.linking import LabelIndex
from kgrel.kg.namespaces import WDT
from kgrel.kg.ontology import OntologyView, RelationInfo
from kgrel.kg.store import KnowledgeStore
from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.graph.link_predictor import LPConfig
from kgrel.models.graph.reasoner import GraphReasoner
from kgrel.models.lru import LruCache
from kgrel.models.relation.evidence import Evidence
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.prototypes import (
    InstancePrediction,
    PrototypeCache,
    PrototypeSet,
    PrototypicalClassifier,
)

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


# Linking mentions to the graph ---------------------------------------------------------------

def link_contexts(instances: Sequence[RelationInstance], index: LabelIndex, ontology: OntologyView,
                  embeddings: KGEmbeddings | None, facts: Facts | None) -> list[GraphContext]:
    """Link each mention (its given IRI, else an exact label match) and gather its hypernyms and vector."""
    linked = [(x.head.entity or index.link(x.head_text), x.tail.entity or index.link(x.tail_text))
              for x in instances]
    return entity_contexts(linked, ontology, embeddings, facts)


def entity_contexts(pairs: Sequence[tuple[str | None, str | None]], ontology: OntologyView,
                    embeddings: KGEmbeddings | None, facts: Facts | None) -> list[GraphContext]:
    """What the graph knows of each (head, tail) pair of entity IRIs (None: not linked): hypernyms and vectors.

    An entity the embeddings never saw is folded in from `facts(iri)`.
    """
    iris = [i for pair in pairs for i in pair if i]
    hypernyms = ontology.hypernyms(iris) if iris else {}
    vectors = ({i: embeddings.vector(i, facts) for i in dict.fromkeys(iris)} if embeddings is not None else {})

    def mention(iri: str | None) -> LinkedMention:
        if iri is None:
            return LinkedMention()
        return LinkedMention(iri, hypernyms.get(iri, []), vectors.get(iri))

    return [GraphContext(mention(h), mention(t)) for h, t in pairs]


def reversed_contexts(contexts: Sequence[GraphContext] | None) -> list[GraphContext] | None:
    """The graph contexts of the same pairs asked the other way round."""
    return None if contexts is None else [GraphContext(c.tail, c.head) for c in contexts]


# The classifier the service uses -------------------------------------------------------------

@dataclass
class ScoringState:
    """What scoring needs about the current relations, rebuilt after the graph changes."""

    prototypes: PrototypeSet
    profile: RelationGraphProfile | None
    arguments: RelationArguments
    threshold: float  # the none-of-the-above threshold: the model's calibrated operating point


@dataclass
class OrientedScores:
    """Pairs scored both ways against one scoring state: the facts' probabilities (pairs x relations, as
    asked and reversed), the prototypes they are columns of and that state's none-of-the-above threshold.
    Taken together so that a rebuild between two reads cannot pair one state's scores with another's."""

    forward: torch.Tensor
    backward: torch.Tensor
    prototypes: PrototypeSet
    threshold: float


class GraphAwareClassifier:
    """The prototypical classifier with graph evidence for mentions linked to the graph.

    """

    def __init__(self, model: RelationModel, use_graph: bool = True):
        self.model = model
        self.use_graph = use_graph
        self.classifier = PrototypicalClassifier(model)
        self._cache = PrototypeCache(model)

    def prepare(self, relations: list[RelationInfo],
                examples: Mapping[str, Sequence[tuple[str, RelationInstance]]],
                embeddings: KGEmbeddings | None) -> ScoringState:
        """Prototypes (re-encoding only what changed), the relations' graph profile, encoded domain/range
        and the none-of-the-above threshold."""
        protos = self._cache.build(relations, examples)
        profile = RelationGraphProfile(embeddings, protos.iris) if embeddings is not None else None
        arguments = RelationArguments.encode(self.model, [(r.domain, r.range) for r in relations])
        return ScoringState(protos, profile, arguments, self.model.config.nota_threshold)

    def evidence(self, state: ScoringState, contexts: Sequence[GraphContext] | None,
                 ultra: UltraPlausibility | None = None) -> Evidence | None:
        """Graph evidence over instances x all relations; None when nothing is linked (scores as text only).
        `ultra` gives the plausibility in place of the embeddings'."""
        if not self.use_graph or contexts is None or not len(state.prototypes):
            return None
        if not any(c.head.entity or c.tail.entity for c in contexts):
            return None
        return gather_evidence(self.model, contexts, state.prototypes.description, state.profile, state.arguments,
                               None if ultra is None else (ultra, state.prototypes.iris))

    def predict(self, state: ScoringState, instances: Sequence[RelationInstance],
                contexts: Sequence[GraphContext] | None, candidates=None, top_k: int | Sequence[int] = 3,
                threshold=None, ultra: UltraPlausibility | None = None) -> list[InstancePrediction]:
        """Ranked facts (each pair asked both ways) and the none-of-the-above decision for each instance;
        a threshold left None is the state's (`ScoringState.threshold`)."""
        return self.classifier.predict(instances, state.prototypes, candidates, top_k=top_k, threshold=threshold,
                                       evidence=self.evidence(state, contexts, ultra),
                                       backward_evidence=self.evidence(state, reversed_contexts(contexts), ultra),
                                       default_threshold=state.threshold)

    def oriented(self, state: ScoringState, forward: tuple[torch.Tensor, torch.Tensor],
                 backward: tuple[torch.Tensor, torch.Tensor],
                 contexts: Sequence[GraphContext] | None, ultra: UltraPlausibility | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities of (head r tail) and (tail r head) over all relations, one direction per fact;
        `forward` / `backward` are the views of the pairs as asked and reversed."""
        return self.classifier.oriented(forward, backward, state.prototypes, None,
                                        self.evidence(state, contexts, ultra),
                                        self.evidence(state, reversed_contexts(contexts), ultra))


# Graph evidence for an evaluation file (`kgrel eval --kg`) -----------------------------------

def graph_relation_iri(relation_id: str) -> str:
    """FewRel relation ids (P26) are Wikidata properties; in a graph they are wdt:P26."""
    return relation_id if ":" in relation_id else WDT + relation_id


@dataclass
class GraphEvidenceSource:
    """`models.relation.evidence.EvidenceSource` over an evaluation file whose mentions were linked."""

    contexts: dict[tuple[str, int], GraphContext]
    profile: RelationGraphProfile | None = None
    side_info: dict[str, RelationInfo] | None = None  # with observed domain/range where the graph has them
    coverage: dict = field(default_factory=dict)
    ultra: UltraPlausibility | None = None  # plausibility from ULTRA instead of the embeddings

    def __call__(self, model: RelationModel, keys: Sequence[tuple[str, int]], relations: Sequence[str],
                 descriptions: torch.Tensor) -> Evidence:
        empty = GraphContext(LinkedMention(), LinkedMention())
        contexts = [self.contexts.get(key, empty) for key in keys]
        infos = [self.side_info.get(r) if self.side_info else None for r in relations]
        arguments = RelationArguments.encode(model, [(i.domain, i.range) if i is not None else ([], [])
                                                     for i in infos])
        ultra = (self.ultra, [graph_relation_iri(r) for r in relations]) if self.ultra is not None else None
        return gather_evidence(model, contexts, descriptions, self.profile, arguments, ultra)


def evidence_for_file(data: dict[str, list[RelationInstance]], side_info: dict[str, RelationInfo] | None,
                      store: KnowledgeStore, graph_iri: str | None = None, *, embeddings_dir: str | Path | None = None,
                      lp_config: LPConfig | None = None,
                      observed_domain_range: bool = True, lang: str = "en",
                      embeddings: bool = True, ultra_checkpoint: str | Path | None = None) -> GraphEvidenceSource:
    """Graph evidence for every instance of `data` from the graph in `store` (mentions linked by IRI).

    Embeddings are loaded from `embeddings_dir` when it holds some, else trained on the graph (and
    saved there); with `embeddings` False there are none (types and hypernyms only). With
    `ultra_checkpoint`, the plausibility comes from ULTRA over the graph (`UltraPlausibility`). Relations without
    declared domain/range get the classes their facts have. The result carries a coverage report: how
    many instances the graph can say anything about.
    """
    emb_path = Path(embeddings_dir) if embeddings_dir else None
    kg: KGEmbeddings | None = None
    if emb_path is not None and (emb_path / "kg.json").exists():
        kg = KGEmbeddings.load(emb_path)
    elif embeddings:
        kg = KGEmbeddings.train(export_graph(store, graph_iri),
                                lp_config or LPConfig(rank=128, epochs=30, negatives=4096, time_limit_s=900))
        if emb_path is not None:
            kg.save(emb_path)
    ontology = OntologyView(store, lang=lang)
    relations = sorted(data)
    iris = [graph_relation_iri(r) for r in relations]
    if side_info is not None and observed_domain_range:
        side_info = copy.deepcopy(side_info)
        known = [(side_info[r], iri) for r, iri in zip(relations, iris, strict=True) if r in side_info]
        ontology.add_observed_arguments([info for info, _ in known], [iri for _, iri in known])
    keys = [(r, i) for r in relations for i in range(len(data[r]))]
    instances = [data[r][i] for r, i in keys]
    contexts = dict(zip(keys, link_contexts(instances, LabelIndex.build(store), ontology, kg,
                                            lambda iri: facts_of(store, iri)), strict=True))
    profile = RelationGraphProfile(kg, iris) if kg is not None else None
    linked = [c for c in contexts.values() if c.head.entity or c.tail.entity]
    total = max(1, len(contexts))
    coverage = {
        "instances": len(contexts),
        "typed_head_or_tail": round(sum(bool(c.head.hypernyms or c.tail.hypernyms) for c in contexts.values())
                                    / total, 4),
        "embedded_head_or_tail": round(sum(c.head.vector is not None or c.tail.vector is not None
                                           for c in linked) / total, 4),
        "embedded_both": round(sum(c.head.vector is not None and c.tail.vector is not None for c in linked) / total, 4),
        "relations_with_facts": sorted(r for r, known in zip(relations, profile.known.tolist(), strict=True)
                                       if known) if profile is not None else [],
    }
    ultra = None
    if ultra_checkpoint is not None:
        ultra = UltraPlausibility(GraphReasoner.load(ultra_checkpoint, export_graph(store, graph_iri)))
        pairs = [(c.head.entity, c.tail.entity) for c in contexts.values() if c.head.entity and c.tail.entity]
        values = ultra.values([(h, r, t) for h, t in pairs for r in iris])  # all passes now, kept for the episodes
        coverage["ultra_plausibility"] = round(sum(v is not None for v in values.values()) / max(1, len(values)), 4)
    return GraphEvidenceSource(contexts, profile if profile is not None and profile.known.any() else None, side_info,
                               coverage, ultra)
