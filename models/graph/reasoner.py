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

    @torch.no_grad()
    def percentiles(self, triples: list[tuple[str, str, str]], batch_size: int = 16) -> list[float | None]:
        """For each (head, relation, tail): the share of the graph's other entities that ULTRA scores below
        the tail for (head, relation, ?); None where the graph has no node or relation to reason from.
        Each distinct (head, relation) costs one pass, however many tails are asked of it."""
        out: list[float | None] = [None] * len(triples)
        nodes, relations = self.export.node_index, self.export.relation_index
        asked: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (head, relation) -> [(position, tail)]
        for i, (h, r, t) in enumerate(triples):
            if h in nodes and t in nodes and r in relations:
                asked.setdefault((nodes[h], relations[r]), []).append((i, nodes[t]))
        questions = list(asked)
        device = self.graph.edge_index.device
        for start in range(0, len(questions), batch_size):
            batch = questions[start:start + batch_size]
            heads = torch.tensor([h for h, _ in batch], device=device)
            logits = self.model(self.graph, heads, torch.tensor([r for _, r in batch], device=device)).cpu()
            for scores, (h, r) in zip(logits, batch, strict=True):
                for i, t in asked[(h, r)]:
                    others = torch.ones_like(scores, dtype=torch.bool)
                    others[[h, t]] = False
                    out[i] = (scores[others] < scores[t]).float().mean().item()
        return out
