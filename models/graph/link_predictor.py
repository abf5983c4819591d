"""Link prediction: an entity encoder (the representation) composed with a decoder (the interaction).

    score(h, r, t) = decoder(encoder(graph)[h], r, encoder(graph)[t])

Relations are reciprocal: relation r + R scores (t, r, h), so every query asks for a tail
(Lacroix et al., 2018), full-graph. Neighbour-sampled mini-batches (PyG's LinkNeighborLoader) need
pyg-lib or torch-sparse, which have no wheels for this platform. Training lives in
`models.graph.training`, filtered ranking in `models.graph.evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kgrel.models.graph.decoders import DECODERS
from kgrel.models.graph.encoders import ENCODERS


@dataclass
class LPConfig:
    decoder: str = "complex"  # a key of DECODERS: complex | distmult
    encoder: str = "none"  # a key of ENCODERS: none (shallow embeddings) | rgcn
    rank: int = 256  # entity/relation vectors have 2 * rank numbers (ComplEx: rank complex numbers)
    epochs: int = 200
    batch_size: int = 1000
    lr: float = 0.1
    n3: float = 5e-3  # N3 regularisation weight
    label_smoothing: float = 0.0
    negatives: int | None = None  # score against this many shared random entities (+ the batch's answers)
    # instead of all entities: sampled softmax for big graphs; None scores all (1-N)
    time_limit_s: float | None = None
    eval_every: int = 5  # epochs
    patience: int = 3  # evaluations without a better validation MRR
    rgcn_layers: int = 1
    rgcn_bases: int = 8
    dropout: float = 0.1
    precision: str = "auto"  # bf16 autocast where fast (see models.device.autocast_dtype)
    seed: int = 0

    def __post_init__(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}: use one of {sorted(DECODERS)}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}: use one of {sorted(ENCODERS)}")


def reciprocal(triples: torch.Tensor, num_relations: int) -> torch.Tensor:
    """Queries for both directions: (h, r, t) and (t, r + R, h)."""
    inverse = torch.stack([triples[:, 2], triples[:, 1] + num_relations, triples[:, 0]], dim=1)
    return torch.cat([triples, inverse])


class LinkPredictor(nn.Module):
    def __init__(self, num_entities: int, num_relations: int, config: LPConfig):
        super().__init__()
        self.config = config
        self.num_entities = num_entities
        self.num_relations = num_relations  # without the reciprocal ones
        dim = 2 * config.rank
        decoder_cls = DECODERS[config.decoder]
        self.decoder = decoder_cls(2 * num_relations, config.rank if config.decoder == "complex" else dim)
        self.encoder = ENCODERS[config.encoder](num_entities, 2 * num_relations, dim, num_layers=config.rgcn_layers,
                                                num_bases=config.rgcn_bases, dropout=config.dropout)
        self.graph: tuple[torch.Tensor, torch.Tensor] | None = None
        # Folders saved before encoders had a registry call the shallow table `entity`.
        self._register_load_state_dict_pre_hook(_rename_legacy_keys)

    def set_graph(self, triples: torch.Tensor) -> None:
        """The message-passing graph of a graph encoder (training triples plus inverses)."""
        both = reciprocal(triples, self.num_relations)
        self.graph = (both[:, [0, 2]].T.contiguous(), both[:, 1].contiguous())

    def entities(self) -> torch.Tensor:
        """Representations of all entities, (num_entities, dim)."""
        if not self.encoder.needs_graph:
            return self.encoder(None, None)
        if self.graph is None:
            raise RuntimeError("set_graph() first: the encoder needs the training graph")
        return self.encoder(*self.graph)

    def forward(self, head: torch.Tensor, relation: torch.Tensor, tail: torch.Tensor | None = None, *,
                candidates: torch.Tensor | None = None, entities: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of (head, relation, tail) index triples, (batch,).

        With `tail` None: scores of every entity (or of the `candidates` entity indices) as the tail of
        each (head, relation) query, (batch, num_candidates). `entities` reuses representations the
        caller already computed.
        """
        entities = self.entities() if entities is None else entities
        if tail is not None:
            return self.decoder(entities[head], relation, entities[tail])
        targets = entities if candidates is None else entities[candidates]
        return self.decoder.query(entities[head], relation) @ targets.T

    def score_tails(self, entities: torch.Tensor, heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """Scores of every entity as the tail of each (head, relation) query: (batch, num_entities)."""
        return self(heads, relations, entities=entities)


def _rename_legacy_keys(state_dict, prefix, *args) -> None:
    old = prefix + "entity.weight"
    if old in state_dict:
        state_dict[prefix + "encoder.embedding.weight"] = state_dict.pop(old)
