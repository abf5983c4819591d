"""Export the store (or one named graph) as a PyTorch Geometric graph with stable id maps.

Nodes are the IRIs that are subjects or objects of resource-valued triples: entities and classes
(objects of rdf:type, either side of rdfs:subClassOf). Every predicate is one edge type; rdf:type
and rdfs:subClassOf are edge types too. Literals are not nodes: labels and descriptions are side
information read by kg.ontology. Inverse edges are added by `to_pyg` (type + number of relations),
not stored. Schema triples and kgrel's own records (examples, provenance) are left out.

The id maps (node IRI -> row, relation IRI -> edge type) are saved next to the tensors, so that an
IRI always finds its row; `extend` adds new nodes after the existing rows without renumbering them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
import torch

from kgrel.kg.namespaces import KGREL, OWL, PROV, RDF, RDFS, SKOS
from kgrel.kg.store import KnowledgeStore

TYPE = RDF + "type"
SUBCLASS = RDFS + "subClassOf"
# Vocabularies that describe the schema, kgrel's own records (examples) or provenance, not the world.
_SCHEMA_NAMESPACES = (RDF, RDFS, OWL, SKOS, KGREL, PROV)
_KEPT_SCHEMA_PREDICATES = {TYPE, SUBCLASS}
ENTITY, CLASS = 0, 1


@dataclass
class GraphExport:
    """A multi-relational graph: node and relation id maps plus (head, relation, tail) index triples."""

    nodes: list[str]  # row -> IRI
    relations: list[str]  # edge type -> predicate IRI (inverse types are added by to_pyg)
    triples: torch.Tensor  # (E, 3) long: head row, relation type, tail row
    node_kind: torch.Tensor  # (N,) ENTITY or CLASS

    def __post_init__(self):
        self.node_index = {iri: i for i, iri in enumerate(self.nodes)}
        self.relation_index = {iri: i for i, iri in enumerate(self.relations)}

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    def to_pyg(self, add_inverse: bool = True):
        """A `torch_geometric.data.Data` with edge_index/edge_type (and inverse edges), num_nodes, node_kind."""
        from torch_geometric.data import Data

        h, r, t = self.triples.T
        if add_inverse:
            edge_index = torch.stack([torch.cat([h, t]), torch.cat([t, h])])
            edge_type = torch.cat([r, r + len(self.relations)])
        else:
            edge_index, edge_type = torch.stack([h, t]), r
        return Data(edge_index=edge_index, edge_type=edge_type, num_nodes=self.num_nodes, node_kind=self.node_kind,
                    num_relations=len(self.relations) * (2 if add_inverse else 1))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "nodes.json").write_text(json.dumps(self.nodes), encoding="utf-8")
        (folder / "relations.json").write_text(json.dumps(self.relations), encoding="utf-8")
        torch.save({"triples": self.triples, "node_kind": self.node_kind}, folder / "graph.pt")

    @classmethod
    def load(cls, folder: Path) -> GraphExport:
        tensors = torch.load(folder / "graph.pt")
        return cls(json.loads((folder / "nodes.json").read_text(encoding="utf-8")),
                   json.loads((folder / "relations.json").read_text(encoding="utf-8")),
                   tensors["triples"], tensors["node_kind"])

    @classmethod
    def of(cls, triples: list[tuple[str, str, str]]) -> GraphExport:
        """An export of (head, relation, tail) IRI triples alone; entities get rows in order of first sight."""
        return cls([], [], torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long)).extend(triples)

    def extend(self, triples: list[tuple[str, str, str]]) -> GraphExport:
        """A new export with more (head, relation, tail) IRI triples; existing rows and types keep their ids."""
        nodes, relations = list(self.nodes), list(self.relations)
        node_index, relation_index = dict(self.node_index), dict(self.relation_index)
        kinds = self.node_kind.tolist()
        rows = []
        for h, r, t in triples:
            for iri, kind in ((h, CLASS if r == SUBCLASS else ENTITY), (t, CLASS if r in (TYPE, SUBCLASS) else ENTITY)):
                if iri not in node_index:
                    node_index[iri] = len(nodes)
                    nodes.append(iri)
                    kinds.append(kind)
                elif kind == CLASS:
                    kinds[node_index[iri]] = CLASS
            if r not in relation_index:
                relation_index[r] = len(relations)
                relations.append(r)
            rows.append((node_index[h], relation_index[r], node_index[t]))
        new = torch.tensor(rows, dtype=torch.long).reshape(-1, 3)
        return GraphExport(nodes, relations, torch.cat([self.triples, new]), torch.tensor(kinds, dtype=torch.long))


def _keep(predicate: str, obj: str) -> bool:
    if predicate in _KEPT_SCHEMA_PREDICATES:
        return not obj.startswith(_SCHEMA_NAMESPACES)  # drops "x a owl:ObjectProperty" and the like
    return not predicate.startswith(_SCHEMA_NAMESPACES)


def iri_triples(store: KnowledgeStore, graph: str | None = None) -> list[tuple[str, str, str]]:
    """Every (subject, predicate, object) of IRIs in the store (or one named graph), schema triples left out."""
    pattern = "?s ?p ?o . FILTER(isIRI(?s) && isIRI(?o))"
    where = f"GRAPH <{graph}> {{ {pattern} }}" if graph else pattern
    result = store.query(f"SELECT ?s ?p ?o WHERE {{ {where} }}")
    if not isinstance(result, ox.QuerySolutions):
        raise TypeError("expected solutions")
    out = [(s.value, p.value, o.value) for s, p, o in result if _keep(p.value, o.value)]
    return list(dict.fromkeys(out))


def export_graph(store: KnowledgeStore, graph: str | None = None) -> GraphExport:
    """The store's graph (or a named graph) as a GraphExport; entities first seen get rows in order."""
    return GraphExport.of(iri_triples(store, graph))
