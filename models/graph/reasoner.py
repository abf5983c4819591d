"""Link prediction over a live graph with ULTRA: no training, and nothing to redo when entities or
relations arrive but building the graph again (`models.graph.ultra`)."""

from __future__ import annotations

from pathlib import Path

import torch

from kgrel.kg.export import GraphExport
from kgrel.models.graph.ultra import FactGraph, Ultra


class GraphReasoner:
    """ULTRA over one export of the graph: the k most plausible tails of (head, relation, ?)."""

    def __init__(self, model: Ultra, export: GraphExport):
        self.model = model
        self.export = export
        device = next(model.parameters()).device
        self.graph = FactGraph.from_triples(export.triples, export.num_nodes, len(export.relations)).to(device)

    @classmethod
    def load(cls, checkpoint: str | Path, export: GraphExport, device: str | torch.device = "cpu") -> GraphReasoner:
        return cls(Ultra.load(checkpoint, device), export)

    @torch.no_grad()
    def predict_tails(self, head: str, relation: str, k: int) -> list[tuple[str, float]]:
        """(IRI, probability) of the k most plausible tails; KeyError when the head or the relation has no
        fact in the graph (there is nothing to reason from)."""
        h, r = self.export.node_index[head], self.export.relation_index[relation]
        device = self.graph.edge_index.device
        logits = self.model(self.graph, torch.tensor([h], device=device), torch.tensor([r], device=device))[0]
        logits[h] = -torch.inf  # an entity is not its own answer
        top = torch.topk(logits, min(k, len(logits) - 1))
        return [(self.export.nodes[i], round(torch.sigmoid(s).item(), 4))
                for s, i in zip(top.values, top.indices.tolist(), strict=True)]
