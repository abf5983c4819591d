"""Relation-disjoint FewRel splits and the evaluation graph, from ../shared/data.

    python -m bench.build_eval_data --out runs/eval [--dev-count 10] [--seed 0] [--codex codex-m]

Writes into --out:
- train.json / dev.json: FewRel-format files (wiki_public + nyt merged), split by relation; the dev
  relations are drawn with the seed (the same draw as `kgrel train --dev-count N --seed S`);
  dev_balanced.json: 100 sentences of each dev relation;
- graph.nt.gz: CoDEx facts (train+valid+test), the classes (rdf:type) of every entity in it and of
  every FewRel entity, class labels, the Wikidata properties with their labels and descriptions, and
  the facts (head, relation, tail) of the FewRel sentences of the *training* relations only: facts
  drawn from evaluation sentences never enter the graph;
- dev_directional.json: each dev relation and its reverse (head and tail swapped) as two classes;
- dev_wiki_public.json / dev_nyt.json: the dev relations' sentences by source;
- nyt_only.json: the news relations that wiki_public does not have (domain-shift tests);
- split.json: which relations went where, and counts.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

import pyoxigraph as ox

from bench.common import ROOT
from kgrel.data.build_demo_graph import LABEL, RDF_TYPE, WD, WDT, relation_triples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dev-count", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--codex", default="codex-m", choices=["codex-s", "codex-m"])
    args = parser.parse_args()
    shared, out = args.shared, args.out
    out.mkdir(parents=True, exist_ok=True)

    data: dict[str, list] = {}
    for name in ("wiki_public", "nyt"):
        for rel, items in json.loads((shared / f"fewrel/{name}.json").read_text()).items():
            data.setdefault(rel, []).extend(items)
    dev_relations = sorted(random.Random(args.seed).sample(sorted(data), args.dev_count))
    train_relations = sorted(r for r in data if r not in dev_relations)
    for name, rels in (("train", train_relations), ("dev", dev_relations)):
        (out / f"{name}.json").write_text(json.dumps({r: data[r] for r in rels}))
    # Balanced dev file (the first 100 sentences of each relation: NYT relations have 100) for macro-F1.
    (out / "dev_balanced.json").write_text(json.dumps({r: data[r][:100] for r in dev_relations}))
    # Directional set: each dev relation twice, as written and with head and tail swapped ("P40~reversed"),
    # so that a class is told from its own reverse only by which mention is which.
    directional = {}
    for r in dev_relations:
        directional[r] = data[r][:100]
        directional[r + "~reversed"] = [{**x, "h": x["t"], "t": x["h"]} for x in data[r][:100]]
    (out / "dev_directional.json").write_text(json.dumps(directional))
    # By source: the dev relations' sentences from Wikipedia and from news, apart.
    for name in ("wiki_public", "nyt"):
        source = json.loads((shared / f"fewrel/{name}.json").read_text())
        (out / f"dev_{name}.json").write_text(json.dumps({r: source[r] for r in dev_relations if r in source}))
    # Domain shift: the news relations that Wikipedia does not have (train on Wikipedia, test on these).
    wiki = json.loads((shared / "fewrel/wiki_public.json").read_text())
    nyt = json.loads((shared / "fewrel/nyt.json").read_text())
    (out / "nyt_only.json").write_text(json.dumps({r: v for r, v in nyt.items() if r not in wiki}))

    pid2name = json.loads((shared / "fewrel/pid2name.json").read_text())
    types = json.loads((shared / "codex/types_en.json").read_text())
    entity_types = json.loads((shared / "codex/entity2types.json").read_text())
    triples: list[ox.Triple] = relation_triples(pid2name)
    entities: set[str] = set()
    for split in ("train", "valid", "test"):
        for line in (shared / f"codex/{args.codex}/{split}.txt").read_text().splitlines():
            h, r, t = line.split("\t")
            entities.update((h, t))
            triples.append(ox.Triple(ox.NamedNode(WD + h), ox.NamedNode(WDT + r), ox.NamedNode(WD + t)))
    fewrel_facts = 0
    for rel in train_relations:
        for item in data[rel]:
            h, t = item["h"][1], item["t"][1]
            entities.update((h, t))
            triples.append(ox.Triple(ox.NamedNode(WD + h), ox.NamedNode(WDT + rel), ox.NamedNode(WD + t)))
            fewrel_facts += 1
    for rel in dev_relations:  # their entities get classes (the graph knows them), never their facts
        for item in data[rel]:
            entities.update((item["h"][1], item["t"][1]))
    classes: set[str] = set()
    for e in sorted(entities):
        for c in entity_types.get(e, []):
            classes.add(c)
            triples.append(ox.Triple(ox.NamedNode(WD + e), RDF_TYPE, ox.NamedNode(WD + c)))
    for c in sorted(classes):
        if c in types:
            triples.append(ox.Triple(ox.NamedNode(WD + c), LABEL, ox.Literal(types[c]["label"], language="en")))
    triples = list(dict.fromkeys(triples))
    with open(out / "graph.nt.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES))
    report = {"out": str(out), "train_relations": train_relations, "dev_relations": dev_relations,
              "graph_triples": len(triples), "fewrel_training_facts": fewrel_facts, "codex": args.codex,
              "dev_sentences": sum(len(data[r]) for r in dev_relations)}
    (out / "split.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
