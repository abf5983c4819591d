"""Time the export of a store to a PyG graph (kg.export), e.g. on CoDEx-M's ~200k triples.

    python -m bench.export_speed [--codex ../shared/data/codex/codex-m] [--store DIR]

Loads the tab-separated train/valid/test triples (as wd:/wdt: IRIs) plus the entities' rdf:type
links into an embedded Oxigraph store (on disk in a temp dir unless --store is given), then times
export_graph and the conversion to torch_geometric.data.Data, and the count of facts stated both ways
that reads relations as observed-symmetric (`OntologyView.reciprocated`). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyoxigraph as ox

from bench.common import ROOT, hardware
from kgrel.kg.export import export_graph
from kgrel.kg.namespaces import RDF, WD, WDT
from kgrel.kg.ontology import OntologyView
from kgrel.kg.store import EmbeddedStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codex", type=Path, default=ROOT.parent / "shared/data/codex/codex-m")
    parser.add_argument("--store", type=Path)
    args = parser.parse_args()
    store = EmbeddedStore(args.store or Path(tempfile.mkdtemp()) / "store")
    types = json.loads((args.codex.parent / "entity2types.json").read_text())
    quads, entities = [], set()
    for split in ("train", "valid", "test"):
        for line in (args.codex / f"{split}.txt").read_text().splitlines():
            h, r, t = line.split("\t")
            entities.update((h, t))
            quads.append(ox.Quad(ox.NamedNode(WD + h), ox.NamedNode(WDT + r), ox.NamedNode(WD + t)))
    for e in entities:
        quads += [ox.Quad(ox.NamedNode(WD + e), ox.NamedNode(RDF + "type"), ox.NamedNode(WD + c))
                  for c in types.get(e, [])]
    started = time.perf_counter()
    store.insert(quads)
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    export = export_graph(store)
    export_seconds = time.perf_counter() - started
    started = time.perf_counter()
    data = export.to_pyg()
    pyg_seconds = time.perf_counter() - started
    started = time.perf_counter()
    reciprocated = OntologyView(store).reciprocated(sorted(export.relations))
    reciprocated_seconds = time.perf_counter() - started
    print(json.dumps({"task": "export_speed", "store_quads": len(quads), "nodes": export.num_nodes,
                      "relations": len(export.relations), "triples": len(export.triples),
                      "pyg_edges": int(data.edge_index.shape[1]), "load_seconds": round(load_seconds, 2),
                      "export_seconds": round(export_seconds, 2), "to_pyg_seconds": round(pyg_seconds, 3),
                      "reciprocated_seconds": round(reciprocated_seconds, 2),
                      "reciprocated": sorted(r.removeprefix(WDT) for r in reciprocated),
                      "hardware": hardware()}))


if __name__ == "__main__":
    main()
