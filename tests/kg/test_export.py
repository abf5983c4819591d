"""Export of the store to a PyTorch Geometric graph."""

from __future__ import annotations

import torch

from kgrel.kg.export import CLASS, ENTITY, GraphExport, export_graph
from tests.conftest import EX


def test_export_round_trip_keeps_ids_and_leaves_literals_out(toy_store, tmp_path):
    export = export_graph(toy_store)
    relations = set(export.relations)
    assert relations == {EX + "worksIn", EX + "livesIn", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
                         "http://www.w3.org/2000/01/rdf-schema#subClassOf"}
    assert not any(n.startswith('"') for n in export.nodes)  # literals are not nodes
    assert export.node_kind[export.node_index[EX + "City"]] == CLASS
    assert export.node_kind[export.node_index[EX + "p7"]] == ENTITY
    # 30 worksIn + 24 livesIn + 33 types + 1 subClassOf
    assert len(export.triples) == 30 + 24 + 33 + 1
    export.save(tmp_path / "g")
    again = GraphExport.load(tmp_path / "g")
    assert again.nodes == export.nodes and again.relations == export.relations
    assert torch.equal(again.triples, export.triples)
    data = again.to_pyg()
    assert data.num_nodes == export.num_nodes and data.edge_index.shape[1] == 2 * len(export.triples)
    assert int(data.edge_type.max()) == 2 * len(export.relations) - 1
    bigger = again.extend([(EX + "newbie", EX + "worksIn", EX + "rome")])
    assert bigger.nodes[: export.num_nodes] == export.nodes  # existing rows never move
