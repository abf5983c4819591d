"""Rebuild data/demo_graph.nt.gz, the graph `make run` loads on first start.

    python data/build_demo_graph.py [--shared ../shared/data] [--out data/demo_graph.nt.gz]

Contents, all from ../shared/data:
- the Wikidata properties of fewrel/pid2name.json as relations (739; FewRel's placeholders
  labelled 'None' are left out) as relations (owl:ObjectProperty, rdfs:label, rdfs:comment);
- every CoDEx-S fact (train, valid and test) as wd:Q.. wdt:P.. wd:Q..;
- rdf:type links of the CoDEx-S entities (codex/entity2types.json) and the labels of those classes;
- entity labels where they are known: CoDEx classes (codex/types_en.json) and the surface names of
  entities in the FewRel files (the most frequent one per entity). CoDEx ships no entity labels,
  so most CoDEx-S entities stay unlabelled.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
from pathlib import Path

import pyoxigraph as ox

WD = "http://www.wikidata.org/entity/"
WDT = "http://www.wikidata.org/prop/direct/"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
COMMENT = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#comment")
OBJECT_PROPERTY = ox.NamedNode("http://www.w3.org/2002/07/owl#ObjectProperty")


def relation_triples(pid2name: dict) -> list[ox.Triple]:
    out = []
    for pid, (label, description) in sorted(pid2name.items()):
        if label == "None":  # FewRel's placeholders (P0 "no relation" and a few blanks), not real properties
            continue
        p = ox.NamedNode(WDT + pid)
        out += [ox.Triple(p, RDF_TYPE, OBJECT_PROPERTY), ox.Triple(p, LABEL, ox.Literal(label, language="en"))]
        if description and description != "No description defined":
            out.append(ox.Triple(p, COMMENT, ox.Literal(description, language="en")))
    return out


def fewrel_names(fewrel_dir: Path) -> dict[str, str]:
    """Most frequent surface name of each Wikidata entity mentioned in the FewRel files."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for path in sorted(fewrel_dir.glob("*.json")):
        if path.name == "pid2name.json":
            continue
        for items in json.loads(path.read_text(encoding="utf-8")).values():
            for item in items:
                for name, qid, _ in (item["h"], item["t"]):
                    counts[qid][name] += 1
    return {qid: c.most_common(1)[0][0] for qid, c in counts.items()}


def build(shared: Path) -> list[ox.Triple]:
    pid2name = json.loads((shared / "fewrel/pid2name.json").read_text(encoding="utf-8"))
    types = json.loads((shared / "codex/types_en.json").read_text(encoding="utf-8"))
    entity_types = json.loads((shared / "codex/entity2types.json").read_text(encoding="utf-8"))
    names = fewrel_names(shared / "fewrel")
    triples = relation_triples(pid2name)
    entities: set[str] = set()
    for split in ("train", "valid", "test"):
        for line in (shared / f"codex/codex-s/{split}.txt").read_text(encoding="utf-8").splitlines():
            h, r, t = line.split("\t")
            entities.update((h, t))
            triples.append(ox.Triple(ox.NamedNode(WD + h), ox.NamedNode(WDT + r), ox.NamedNode(WD + t)))
    classes: set[str] = set()
    for e in sorted(entities):
        for c in entity_types.get(e, []):
            classes.add(c)
            triples.append(ox.Triple(ox.NamedNode(WD + e), RDF_TYPE, ox.NamedNode(WD + c)))
    for q in sorted(entities | classes):
        label = types[q]["label"] if q in types else names.get(q)
        if label:
            triples.append(ox.Triple(ox.NamedNode(WD + q), LABEL, ox.Literal(label, language="en")))
    return list(dict.fromkeys(triples))


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=here.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=here / "demo_graph.nt.gz")
    args = parser.parse_args()
    triples = build(args.shared)
    body = ox.serialize(sorted(triples, key=str), format=ox.RdfFormat.N_TRIPLES)
    # mtime=0 keeps the file byte-identical across rebuilds.
    with open(args.out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as f:
        f.write(body)
    print(json.dumps({"out": str(args.out), "triples": len(triples), "bytes": args.out.stat().st_size}))


if __name__ == "__main__":
    main()
