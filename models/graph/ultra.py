"""ULTRA: a link predictor that needs no entity or relation embeddings, so it reasons over any graph.

Galkin et al., "Towards Foundation Models for Knowledge Graph Reasoning" (ICLR 2024), written here
in PyTorch Geometric from the paper; it loads the authors' published weights (MIT licence).

    1. The graph of relations: relations are its nodes, and two relations are linked by one of four
       kinds of edge when an entity is the head of both (head-head), the tail of both (tail-tail),
       the head of one and the tail of the other (head-tail, tail-head).
    2. Relation representations for a query (h, q, ?): message passing over the graph of relations
       from q, whose initial state is all ones (every other relation starts at zero).
    3. Entity representations for the query: message passing over the entity graph from h, whose
       initial state is q's representation, each edge's message the neighbour's state times the
       (layer-projected) representation of the edge's relation (NBFNet, Zhu et al., NeurIPS 2021).
    4. The score of a candidate tail t: an MLP on t's final state next to q's representation.

Nothing is tied to an entity or relation id: a graph with new entities and relations is scored at
once, and an entity ingested after training is reasoned about from its edges.

Every relation r has an inverse r + R (edges are added both ways), so every query asks for a tail.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import MessagePassing

DIM = 64  # the published checkpoints: 64 dimensions, 6 layers in each network
LAYERS = 6
RELATION_EDGE_KINDS = 4  # head-head, tail-tail, head-tail, tail-head


@dataclass
class FactGraph:
    """A graph ready for ULTRA: edges both ways, and its graph of relations."""

    num_nodes: int
    num_relations: int  # 2R: the relations and their inverses
    edge_index: torch.Tensor  # (2, 2E)
    edge_type: torch.Tensor  # (2E,)
    relation_edge_index: torch.Tensor  # (2, edges of the graph of relations)
    relation_edge_type: torch.Tensor
    # The same as one sparse matrix; made here unless given (a graph with the same relations passes it on).
    relation_adjacency: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.relation_adjacency is None:
            self.relation_adjacency = typed_adjacency(self.relation_edge_index, self.relation_edge_type,
                                                      self.num_relations, RELATION_EDGE_KINDS)

    @classmethod
    def from_triples(cls, triples: torch.Tensor, num_nodes: int, num_relations: int) -> FactGraph:
        """`triples` (E, 3) of (head, relation, tail) ids, relations below `num_relations` (R)."""
        h, r, t = triples.long().t()
        edge_index = torch.cat([torch.stack([h, t]), torch.stack([t, h])], dim=1)
        edge_type = torch.cat([r, r + num_relations])
        order = edge_index[0].argsort(stable=True)  # edges that add into one node side by side: cache-friendly
        edge_index, edge_type = edge_index[:, order], edge_type[order]
        rel_index, rel_type = relation_graph(edge_index, edge_type, num_nodes, 2 * num_relations)
        return cls(num_nodes, 2 * num_relations, edge_index, edge_type, rel_index, rel_type)

    def to(self, device) -> FactGraph:
        return FactGraph(self.num_nodes, self.num_relations, self.edge_index.to(device), self.edge_type.to(device),
                         self.relation_edge_index.to(device), self.relation_edge_type.to(device),
                         self.relation_adjacency.to(device))

    def without(self, triples: torch.Tensor) -> FactGraph:
        """The graph minus the edges of `triples` (both ways): in training, a query must not be answered
        by the very edge it asks about."""
        h, r, t = triples.long().t()
        num_rel = self.num_relations // 2
        drop = torch.cat([_edge_keys(torch.stack([h, t]), r, self.num_nodes, self.num_relations),
                          _edge_keys(torch.stack([t, h]), r + num_rel, self.num_nodes, self.num_relations)])
        keys = _edge_keys(self.edge_index, self.edge_type, self.num_nodes, self.num_relations)
        keep = ~torch.isin(keys, drop)
        # The graph of relations is kept as it was (so the authors train): only entity edges go.
        return FactGraph(self.num_nodes, self.num_relations, self.edge_index[:, keep], self.edge_type[keep],
                         self.relation_edge_index, self.relation_edge_type, self.relation_adjacency)


def _edge_keys(edge_index: torch.Tensor, edge_type: torch.Tensor, num_nodes: int, num_relations: int) -> torch.Tensor:
    return (edge_index[0] * num_relations + edge_type) * num_nodes + edge_index[1]


def relation_graph(edge_index: torch.Tensor, edge_type: torch.Tensor, num_nodes: int,
                   num_relations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges (r1 -> r2) of the graph of relations, and their kind (0 head-head, 1 tail-tail, 2 head-tail,
    3 tail-head): an entity is the head (or tail) of an r1 edge and the head (or tail) of an r2 edge."""
    def incidence(nodes: torch.Tensor) -> torch.Tensor:  # (relations, nodes), sparse
        pairs = torch.stack([edge_type, nodes]).unique(dim=1)
        return torch.sparse_coo_tensor(pairs, torch.ones(pairs.shape[1], device=pairs.device),
                                       (num_relations, num_nodes)).coalesce()

    with warnings.catch_warnings():  # torch calls its sparse products beta
        warnings.simplefilter("ignore", UserWarning)
        heads, tails = incidence(edge_index[0]), incidence(edge_index[1])
        index, kinds = [], []
        for kind, (a, b) in enumerate(((heads, heads), (tails, tails), (heads, tails), (tails, heads))):
            linked = torch.sparse.mm(a, b.t().coalesce()).coalesce().indices()  # r1, r2 share an entity so
            index.append(linked)
            kinds.append(torch.full((linked.shape[1],), kind, dtype=torch.long, device=linked.device))
    return torch.cat(index, dim=1), torch.cat(kinds)


class RelationalConv(MessagePassing):
    """One NBFNet layer: sum over in-edges of (source state * relation vector), plus the initial state
    (the boundary condition), then a linear map of [state, sum], layer norm and ReLU.

    States are (batch, nodes, dim): one row of states per query. `relation` vectors are either this
    layer's own (the graph of relations has four kinds of edge) or, with `project=True`, a projection of
    per-query relation representations set before each forward pass (the entity graph).

    `message` defines the sum, and PyG's `propagate` computes it; the forward pass computes the same sum
    by `typed_sum` or `fused_sum`, which never hold one row per edge (tests compare values and gradients)."""

    # What `propagate` takes, for PyG's generated propagate (it reads a forward pass's call otherwise).
    propagate_type = {"state": torch.Tensor, "relation": torch.Tensor, "edge_type": torch.Tensor}

    def __init__(self, dim: int, num_relation: int | None, project: bool = False):
        # Messages flow from edge_index[1] to edge_index[0], as in the authors' fused kernel the published
        # weights were trained with (its rows are edge_index[0]); with edges both ways, the graph is the same.
        super().__init__(aggr="sum", node_dim=-2, flow="target_to_source")
        self.layer_norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(2 * dim, dim)
        if project:
            self.relation_projection = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        else:
            self.relation = nn.Embedding(num_relation, dim)
        self.project = project

    def forward(self, state: torch.Tensor, boundary: torch.Tensor, edge_index: torch.Tensor,
                edge_type: torch.Tensor, relations: torch.Tensor | None = None,
                adjacency: torch.Tensor | None = None) -> torch.Tensor:
        """`adjacency` (`typed_adjacency` of the edges), when given, sums by one sparse product."""
        if self.project:
            relation = self.relation_projection(relations)  # (batch, num_relations, dim)
        else:
            relation = self.relation.weight.expand(state.shape[0], -1, -1)
        if adjacency is not None:
            summed = typed_sum(state, relation, adjacency)
        else:
            summed = fused_sum(state, relation, edge_index, edge_type)
        out = self.linear(torch.cat([state, summed + boundary], dim=-1))
        return F.relu(self.layer_norm(out))

    def message(self, state_j: torch.Tensor, relation: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        return state_j * relation.index_select(-2, edge_type)


def typed_adjacency(edge_index: torch.Tensor, edge_type: torch.Tensor, num_nodes: int, num_types: int) -> torch.Tensor:
    """Sparse (nodes, types x nodes): row i, column t * nodes + j for each edge j -> i of type t."""
    index = torch.stack([edge_index[0], edge_type * num_nodes + edge_index[1]])
    values = torch.ones(index.shape[1], device=index.device)
    return torch.sparse_coo_tensor(index, values, (num_nodes, num_types * num_nodes)).coalesce()


def typed_sum(state: torch.Tensor, relation: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """The same sum as `RelationalConv.propagate`, for a graph with few kinds of edge (the graph of
    relations has four): since each message is the sender's state times its edge kind's vector,
    sum = A @ [state * vector of kind t, for each t], one sparse product, with gradients, and no row per
    edge (which made training 10x slower on the GraIL graphs)."""
    batch, nodes, dim = state.shape
    kinds = relation.shape[1]
    scaled = state.unsqueeze(1) * relation.unsqueeze(2)  # (batch, kinds, nodes, dim)
    stacked = scaled.permute(1, 2, 0, 3).reshape(kinds * nodes, batch * dim)
    return torch.sparse.mm(adjacency, stacked).view(nodes, batch, dim).transpose(0, 1)


class _FusedSum(torch.autograd.Function):
    """sum_e rows[src_e] * relations[type_e] into out[dst_e], a slice of edges at a time, with a backward
    pass that walks the edges again the same way. Autograd through per-edge messages would keep one
    (edges, queries x dim) tensor per layer for the backward pass: 8 GiB for a step of 32 queries on
    CoDEx-S, more than a 24 GiB machine has on CoDEx-M. This keeps only the (nodes, queries x dim) inputs."""

    @staticmethod
    def forward(ctx, rows_of, relations_of, source, target, edge_type, step):
        out = torch.zeros_like(rows_of)
        for start in range(0, len(source), step):
            stop = start + step
            message = rows_of.index_select(0, source[start:stop])
            message.mul_(relations_of.index_select(0, edge_type[start:stop]))
            out.index_add_(0, target[start:stop], message)
        ctx.save_for_backward(rows_of, relations_of, source, target, edge_type)
        ctx.step = step
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        rows_of, relations_of, source, target, edge_type = ctx.saved_tensors
        want_rows, want_relations = ctx.needs_input_grad[:2]
        grad_rows = torch.zeros_like(rows_of) if want_rows else None
        grad_relations = torch.zeros_like(relations_of) if want_relations else None
        for start in range(0, len(source), ctx.step):
            stop = start + ctx.step
            src, kind = source[start:stop], edge_type[start:stop]
            upstream = grad_out.index_select(0, target[start:stop])  # d loss / d message, per edge
            if want_rows:
                grad_rows.index_add_(0, src, upstream * relations_of.index_select(0, kind))
            if want_relations:
                grad_relations.index_add_(0, kind, upstream * rows_of.index_select(0, src))
        return grad_rows, grad_relations, None, None, None, None


def fused_sum(state: torch.Tensor, relation: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor,
              rows: int = 16384) -> torch.Tensor:
    """What `RelationalConv.propagate` sums, with gradients: the messages are made and added a slice of
    edges at a time, so they stay in the CPU's cache instead of filling memory with one row per edge (5x
    faster on CoDEx-M at inference; the same numbers and gradients, `tests/models/graph/test_ultra.py`)."""
    batch, nodes, dim = state.shape
    # Rows of (node, all queries' dims): index_select and index_add_ on dim 0 of a 2-d tensor are the fast ones.
    rows_of = state.transpose(0, 1).reshape(nodes, batch * dim)
    relations_of = relation.transpose(0, 1).reshape(relation.shape[1], batch * dim)
    out = _FusedSum.apply(rows_of, relations_of, edge_index[1], edge_index[0], edge_type, max(1, rows // batch))
    return out.view(nodes, batch, dim).transpose(0, 1)


def _propagate(layers: nn.ModuleList, boundary: torch.Tensor, edge_index, edge_type, relations=None,
               adjacency=None) -> torch.Tensor:
    state = boundary
    for layer in layers:
        state = layer(state, boundary, edge_index, edge_type, relations, adjacency) + state  # residual
    return state


class RelationGNN(nn.Module):
    """Representations of every relation for each query relation, over the graph of relations."""

    def __init__(self, dim: int = DIM, layers: int = LAYERS):
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList(RelationalConv(dim, RELATION_EDGE_KINDS) for _ in range(layers))

    def forward(self, graph: FactGraph, query_relations: torch.Tensor) -> torch.Tensor:
        batch = len(query_relations)
        boundary = torch.zeros(batch, graph.num_relations, self.dim, device=query_relations.device)
        boundary[torch.arange(batch, device=boundary.device), query_relations] = 1.0
        return _propagate(self.layers, boundary, graph.relation_edge_index, graph.relation_edge_type,
                          adjacency=graph.relation_adjacency)


class EntityGNN(nn.Module):
    """Scores of candidate tails for (head, relation) queries, from relation representations."""

    def __init__(self, dim: int = DIM, layers: int = LAYERS):
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList(RelationalConv(dim, None, project=True) for _ in range(layers))
        self.mlp = nn.Sequential(nn.Linear(2 * dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, 1))

    def forward(self, graph: FactGraph, relations: torch.Tensor, heads: torch.Tensor, query_relations: torch.Tensor,
                tails: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, candidates) scores for `tails` (batch, candidates); every entity when None."""
        batch = len(heads)
        rows = torch.arange(batch, device=heads.device)
        query = relations[rows, query_relations]  # (batch, dim)
        boundary = torch.zeros(batch, graph.num_nodes, self.dim, device=heads.device)
        boundary[rows, heads] = query
        state = _propagate(self.layers, boundary, graph.edge_index, graph.edge_type, relations)
        if tails is not None:
            state = state.gather(1, tails.unsqueeze(-1).expand(-1, -1, self.dim))
        features = torch.cat([state, query.unsqueeze(1).expand(-1, state.shape[1], -1)], dim=-1)
        return self.mlp(features).squeeze(-1)


class Ultra(nn.Module):
    def __init__(self, dim: int = DIM, layers: int = LAYERS):
        super().__init__()
        self.relation_model = RelationGNN(dim, layers)
        self.entity_model = EntityGNN(dim, layers)

    def forward(self, graph: FactGraph, heads: torch.Tensor, relations: torch.Tensor,
                tails: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of (head, relation, tail) for each query's candidate `tails` (batch, candidates), or
        for every entity (batch, num_nodes). Relations r + R ask for heads."""
        # The graph of relations is always asked from the direct relation, also for a question about heads
        # (r + R): so the published weights were trained.
        representations = self.relation_model(graph, relations % (graph.num_relations // 2))
        return self.entity_model(graph, representations, heads, relations, tails)

    def save(self, path: Path, **about) -> None:
        """The weights to `path`, and what they learned from (`about`: pretrained_on, history...) beside it
        as JSON, which `models.graph.ultra_training.pretraining_graphs` reads."""
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), path)
        path.with_suffix(".json").write_text(json.dumps({"model": "ULTRA", **about}, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Ultra:
        """A model with the weights of `path`: the authors' checkpoint ({"model": state dict}) or ours."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("model", state)
        model = cls()
        model.load_state_dict(state)
        return model.to(device).eval()
