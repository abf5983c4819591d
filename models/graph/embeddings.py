"""Trained knowledge-graph embeddings as the product uses them: a folder with id maps and weights.

    graph/            kg.export.GraphExport (nodes.json, relations.json, graph.pt): IRI -> row
    model.pt          LinkPredictor state (entity table or R-GCN, decoder relation vectors)
    entities.pt       the entity representations the decoder scores (computed once after training)
    kg.json           LPConfig and a training report

Entities that arrive after training get a vector by fold-in from their facts with known entities
(`fold_in` below): no retraining, and the trained rows never move.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from kgrel.kg.export import CLASS, GraphExport
from kgrel.models.graph.link_predictor import LinkPredictor, LPConfig
from kgrel.models.graph.training import train_link_predictor


class KGEmbeddings:
    def __init__(self, export: GraphExport, model: LinkPredictor, entities: torch.Tensor, report: dict | None = None):
        self.export = export
        self.model = model
        self.entities = entities.detach().float()
        self.report = report or {}
        self._folded: dict[str, torch.Tensor] = {}
        self._lock = threading.Lock()
        self._normed = F.normalize(self.entities, dim=1)

    # Building ---------------------------------------------------------------------------------

    @classmethod
    def train(cls, export: GraphExport, config: LPConfig, device: str = "cpu",
              progress: bool = True, on_epoch: Callable[[dict], None] | None = None) -> KGEmbeddings:
        """Train on every triple of the export (no held-out split: this is for use, not for a benchmark)."""
        if len(export.triples) == 0:
            raise ValueError("the graph has no triples between resources to learn from")
        model, report = train_link_predictor(export.triples, export.num_nodes, len(export.relations), config,
                                             device=device, progress=progress, on_epoch=on_epoch)
        model.to("cpu")
        with torch.no_grad():
            entities = model.entities()
        return cls(export, model, entities, report)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.export.save(folder / "graph")
        torch.save(self.model.state_dict(), folder / "model.pt")
        torch.save(self.entities, folder / "entities.pt")
        (folder / "kg.json").write_text(json.dumps({"config": asdict(self.model.config), "report": {
            k: v for k, v in self.report.items() if k != "history"}}, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> KGEmbeddings:
        meta = json.loads((folder / "kg.json").read_text(encoding="utf-8"))
        export = GraphExport.load(folder / "graph")
        config = LPConfig(**meta["config"])
        model = LinkPredictor(export.num_nodes, len(export.relations), config)
        model.load_state_dict(torch.load(folder / "model.pt"))
        if model.encoder.needs_graph:
            model.set_graph(export.triples)
        model.eval()
        return cls(export, model, torch.load(folder / "entities.pt"), meta.get("report"))

    # Lookups ----------------------------------------------------------------------------------

    def has_entity(self, iri: str) -> bool:
        return iri in self.export.node_index or iri in self._folded

    def relation_index(self, iri: str) -> int | None:
        return self.export.relation_index.get(iri)

    def vector(self, iri: str, facts: Callable[[str], list[tuple[str, str, str]]] | None = None) -> torch.Tensor | None:
        """The entity's vector; an entity unknown at training time is folded in from `facts(iri)`."""
        row = self.export.node_index.get(iri)
        if row is not None:
            return self.entities[row]
        with self._lock:
            if iri in self._folded:
                return self._folded[iri]
        if facts is None:
            return None
        usable = []
        for h, r, t in facts(iri):
            rel = self.export.relation_index.get(r)
            if rel is None:
                continue
            if h == iri and t in self.export.node_index:
                usable.append((rel, self.export.node_index[t], +1))
            elif t == iri and h in self.export.node_index:
                usable.append((rel, self.export.node_index[h], -1))
        if not usable:
            return None
        vec = fold_in(self.model, self.entities, usable)
        with self._lock:
            self._folded[iri] = vec
        return vec

    def similar(self, vec: torch.Tensor, k: int = 10, exclude: str | None = None,
                entities_only: bool = True) -> list[tuple[str, float]]:
        """Nearest entities by cosine similarity of their vectors."""
        scores = self._normed @ F.normalize(vec.float(), dim=0)
        if entities_only:
            scores = torch.where(self.export.node_kind == CLASS, torch.full_like(scores, -2.0), scores)
        if exclude in self.export.node_index:
            scores[self.export.node_index[exclude]] = -2.0
        top = torch.topk(scores, min(k, len(scores)))
        return [(self.export.nodes[i], round(v, 4)) for v, i in zip(top.values.tolist(), top.indices.tolist(),
                                                                    strict=True) if v > -2]

    @torch.no_grad()
    def tail_scores(self, head: torch.Tensor, relation: int) -> torch.Tensor:
        """Decoder scores of every known entity as the tail of (head, relation)."""
        return (self.model.decoder.query(head.float()[None], torch.tensor([relation])) @ self.entities.T)[0]

    def predict_tails(self, head: torch.Tensor, relation: int, k: int = 10,
                      exclude: set[str] | None = None) -> list[tuple[str, float]]:
        scores = self.tail_scores(head, relation)
        scores = torch.where(self.export.node_kind == CLASS, torch.full_like(scores, -torch.inf), scores)
        for iri in exclude or ():
            if iri in self.export.node_index:
                scores[self.export.node_index[iri]] = -torch.inf
        top = torch.topk(scores, min(k, len(scores)))
        return [(self.export.nodes[i], round(v, 4)) for v, i in zip(top.values.tolist(), top.indices.tolist(),
                                                                    strict=True) if v != -torch.inf]

    @torch.no_grad()
    def triple_score(self, head: torch.Tensor, relation: int, tail: torch.Tensor) -> float:
        return float(self.model.decoder(head.float()[None], torch.tensor([relation]), tail.float()[None])[0])


def fold_in(model: LinkPredictor, entities: torch.Tensor, facts: list[tuple[int, int, int]]) -> torch.Tensor:
    """An embedding for an entity the model never saw, from its facts with known entities.

    Each fact is (relation, neighbour, direction): direction +1 when the new entity is the head,
    -1 when it is the tail. Both decoders are linear in each argument, so the vector that scores all
    the facts highest at a given norm is the normalised sum of their gradients (each fact counted in
    its own direction and through its reciprocal relation); it is scaled to the median entity norm.
    """
    if not facts:
        raise ValueError("an entity needs at least one fact with a known entity to be folded in")
    entities = entities.detach().float()
    e = torch.zeros(1, entities.shape[1], requires_grad=True)
    total = torch.zeros(())
    R = model.num_relations
    for relation, neighbour, sign in facts:
        other = entities[neighbour:neighbour + 1]
        r, r_inv = torch.tensor([relation]), torch.tensor([relation + R])
        if sign >= 0:  # (new, r, neighbour) and its reciprocal (neighbour, r + R, new)
            total = total + model.decoder(e, r, other).sum() + model.decoder(other, r_inv, e).sum()
        else:  # (neighbour, r, new) and (new, r + R, neighbour)
            total = total + model.decoder(other, r, e).sum() + model.decoder(e, r_inv, other).sum()
    (direction,) = torch.autograd.grad(total, e)
    return F.normalize(direction[0], dim=0) * entities.norm(dim=1).median()
