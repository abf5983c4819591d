"""R-GCN entity encoder (Schlichtkrull et al., 2018) from PyG's RGCNConv with basis decomposition."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import RGCNConv


class RGCNEncoder(nn.Module):
    r"""Entity representations from a learned embedding table refined by relational message passing:

    .. math::
        x_i^{(l+1)} = \sigma\Big(W_0^{(l)} x_i^{(l)} + \sum_{r} \sum_{j \in \mathcal{N}_r(i)}
        \frac{1}{|\mathcal{N}_r(i)|} W_r^{(l)} x_j^{(l)}\Big), \quad W_r^{(l)} = \sum_b a_{rb}^{(l)} V_b^{(l)}

    with a residual connection to the input embedding, so that a node without neighbours keeps its
    own embedding. Edge types include inverse relations (see kg.export.GraphExport.to_pyg).
    """

    def __init__(self, num_nodes: int, num_relations: int, dim: int, num_layers: int = 2,
                 num_bases: int | None = 8, dropout: float = 0.1):
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
