"""Graph evidence for an evaluation file (`kgrel eval --kg`): its mentions linked, embeddings trained or loaded."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from kgrel.kg.entities import facts_of
from kgrel.kg.export import export_graph
from kgrel.kg.linking import LabelIndex
from kgrel.kg.namespaces import WDT
from kgrel.kg.ontology import OntologyView, RelationInfo
from kgrel.kg.store import KnowledgeStore
from kgrel.models.fusion.evidence import (
    GraphContext,
    LinkedMention,
    RelationArguments,
    RelationGraphProfile,
    UltraPlausibility,
    gather_evidence,
)
from kgrel.models.fusion.linking import link_contexts
from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.graph.link_predictor import LPConfig
from kgrel.models.graph.reasoner import GraphReasoner
from kgrel.models.relation.evidence import Evidence
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.model import RelationModel


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
