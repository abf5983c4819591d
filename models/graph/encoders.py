"""Entity encoders: the representation of every entity that a decoder scores (PyKEEN's "representation").

An encoder maps the message-passing graph (edge_index, edge_type; reciprocal relations included) to
entity vectors, (num_entities, dim). They are picked by name from ENCODERS, like the decoders:

- ``none``: a shallow embedding table, one free vector per entity (the graph is not read);
- ``rgcn``: the table refined by relational message passing (R-GCN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import RGCNConv


class EntityEncoder(nn.Module):
    """Base class: `forward(edge_index, edge_type)` gives every entity's representation."""

    needs_graph = True  # whether forward reads the graph (False: it may be called with None)

    def forward(self, edge_index: torch.Tensor | None, edge_type: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


class ShallowEncoder(EntityEncoder):
    r"""One free vector per entity: :math:`x_i = E_i`, initialised from :math:`\mathcal{N}(0, \sigma^2)`."""

    needs_graph = False

    def __init__(self, num_entities: int, num_relations: int, dim: int, *, init_scale: float = 1e-3, **_):
        super().__init__()
        self.init_scale = init_scale
        self.embedding = nn.Embedding(num_entities, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_scale)

    def forward(self, edge_index=None, edge_type=None) -> torch.Tensor:
        """The table itself, (num_entities, dim)."""
        return self.embedding.weight


class RGCNEncoder(EntityEncoder):
    r"""Entity representations from a learned embedding table refined by relational message passing:

    .. math::
        x_i^{(l+1)} = \sigma\Big(W_0^{(l)} x_i^{(l)} + \sum_{r} \sum_{j \in \mathcal{N}_r(i)}
        \frac{1}{|\mathcal{N}_r(i)|} W_r^{(l)} x_j^{(l)}\Big), \quad W_r^{(l)} = \sum_b a_{rb}^{(l)} V_b^{(l)}

    with a residual connection to the input embedding, so that a node without neighbours keeps its
    own embedding: output = x^{(0)} + x^{(L)}. No activation after the last layer. Edge types
    include inverse relations (see kg.export.GraphExport.to_pyg).
    """

    def __init__(self, num_nodes: int, num_relations: int, dim: int, num_layers: int = 2,
                 num_bases: int | None = 8, dropout: float = 0.1, **_):
        super().__init__()
        self.embedding = nn.Embedding(num_nodes, dim)
        self.convs = nn.ModuleList(RGCNConv(dim, dim, num_relations, num_bases=num_bases)
                                   for _ in range(num_layers))
        self.dropout = dropout
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=1e-1)
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, edge_index: torch.Tensor, edge_type: torch.Tensor,
                x: torch.Tensor | None = None) -> torch.Tensor:
        """Representations of every node, (num_nodes, dim); `x` overrides the input embeddings."""
        x0 = self.embedding.weight if x is None else x
        h = x0
        for i, conv in enumerate(self.convs):
            h = conv(h, edge_index, edge_type)
            if i < len(self.convs) - 1:
                h = F.relu(h)
                h = F.dropout(h, self.dropout, training=self.training)
        return x0 + h


ENCODERS: dict[str, type[EntityEncoder]] = {"none": ShallowEncoder, "rgcn": RGCNEncoder}
