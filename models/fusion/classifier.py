"""The classifier the service uses: prototypes, graph evidence for linked entities, one direction per fact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from kgrel.kg.ontology import RelationInfo
from kgrel.models.fusion.evidence import (
    GraphContext,
    RelationArguments,
    RelationGraphProfile,
    UltraPlausibility,
    gather_evidence,
)
from kgrel.models.fusion.linking import reversed_contexts
from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.relation.evidence import Evidence
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.prototypes import (
    InstancePrediction,
    PrototypeCache,
    PrototypeSet,
    PrototypicalClassifier,
)


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
