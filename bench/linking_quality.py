"""How well mentions are linked to graph entities: by name, by spelling and by context.

    python -m bench.linking_quality [--data FILE ...] [--limit N] [--exact-only] [--out runs/linking_quality.json]

The text is FewRel sentences (../shared/data/fewrel/wiki_public.json and nyt.json unless --data), whose
head and tail mentions carry their Wikidata entity: the gold link. The graph, in an embedded store,
names every FewRel entity by its most frequent surface name (so other spellings of it in the text are
not names the graph knows), and holds CoDEx-M's facts and the CoDEx classes with their labels: the
context the disambiguation can use (data/build_demo_graph.py's sources; --graph FILE uses a file
instead). Only gold mentions of entities the graph names count. Each sentence is linked as kgrel links a document
(`kg.disambiguation.link_sentences`) in three settings:
- as written: the sentence unchanged;
- typo: two neighbouring letters swapped inside the longest word (6+ letters) of each gold mention,
  so only a link by spelling can find it;
- shared name: every named entity gets a decoy with the same label, a class of its own and no facts,
  so each name is ambiguous and only the context can choose.
For each, the share of gold mentions linked to the right entity, to a wrong one, left ambiguous or not
found, and the precision of links by method. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import ROOT, hardware

SHARED = ROOT.parent / "shared" / "data"
WD = "http://www.wikidata.org/entity/"
DECOY_CLASS = "urn:kgrel:bench:Decoy"


def gold_sentences(paths: list[Path], limit: int, seed: int) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """(sentence, [(start, end, entity IRI) of its head and tail]) from FewRel files."""
    out = []
    for path in paths:
        for items in json.loads(path.read_text(encoding="utf-8")).values():
            for item in items:
                tokens = item["tokens"]
                starts, pos = [], 0
                for t in tokens:
                    starts.append(pos)
                    pos += len(t) + 1
                gold = []
                for _, qid, positions in (item["h"], item["t"]):
                    first, last = positions[0][0], positions[0][-1]
                    gold.append((starts[first], starts[last] + len(tokens[last]), WD + qid))
                out.append((" ".join(tokens), gold))
    random.Random(seed).shuffle(out)
    return out[:limit]


def with_typos(sentence: str, gold: list[tuple[int, int, str]], rng: random.Random):
    """The sentence with two letters swapped in the longest word of each gold mention (when it has 6+)."""
    chars = list(sentence)
    changed = []
    for start, end, iri in gold:
        words = [(start + i, start + i + len(w)) for i, w in _words(sentence[start:end])]
        s, e = max(words, key=lambda w: w[1] - w[0], default=(0, 0))
        if e - s >= 6:
            i = rng.randrange(s + 1, e - 2)  # keep the first letter, as typos mostly do
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
            changed.append((start, end, iri))
    return "".join(chars), changed


def _words(text: str):
    pos = 0
    for w in text.split(" "):
        yield pos, w
        pos += len(w) + 1


def outcome(found, start: int, end: int, iri: str) -> tuple[str, str | None]:
    overlapping = [m for m in found if m.start < end and start < m.end]
    if not overlapping:
        return "not found", None
    m = max(overlapping, key=lambda m: min(end, m.end) - max(start, m.start))
    if m.entity is None:
        return ("ambiguous" if m.ambiguous else "not found"), None
    return ("right" if m.entity == iri else "wrong"), m.how


def bench_graph() -> list:
    """Quads: FewRel entities named by their most frequent surface name, CoDEx-M facts, CoDEx classes."""
    import pyoxigraph as ox

    from data.build_demo_graph import LABEL, RDF_TYPE, WDT, fewrel_names

    names = fewrel_names(SHARED / "fewrel")
    types = json.loads((SHARED / "codex" / "types_en.json").read_text(encoding="utf-8"))
    entity_types = json.loads((SHARED / "codex" / "entity2types.json").read_text(encoding="utf-8"))
    quads = [ox.Quad(ox.NamedNode(WD + q), LABEL, ox.Literal(name, language="en")) for q, name in names.items()]
    entities = set(names)
    for line in (SHARED / "codex" / "codex-m" / "train.txt").read_text(encoding="utf-8").splitlines():
        h, r, t = line.split("\t")
        entities.update((h, t))
        quads.append(ox.Quad(ox.NamedNode(WD + h), ox.NamedNode(WDT + r), ox.NamedNode(WD + t)))
    classes = set()
    for e in sorted(entities):
        for c in entity_types.get(e, []):
            classes.add(c)
            quads.append(ox.Quad(ox.NamedNode(WD + e), RDF_TYPE, ox.NamedNode(WD + c)))
    quads += [ox.Quad(ox.NamedNode(WD + c), LABEL, ox.Literal(types[c]["label"], language="en"))
              for c in sorted(classes) if c in types]
    return quads


def run_setting(store, index, sentences, named: set[str], exact_only: bool) -> dict:
    from kgrel.kg.disambiguation import link_sentences

    counts, by_method = Counter(), Counter()
    started = time.perf_counter()
    for text, gold in sentences:
        [found] = link_sentences(store, index, [text], exact_only=exact_only)
        for start, end, iri in gold:
            if iri not in named:
                continue
            result, how = outcome(found, start, end, iri)
            counts[result] += 1
            if how:
                by_method[(how, result)] += 1
    total = sum(counts.values())
    methods = {}
    for how in sorted({h for h, _ in by_method}):
        right, wrong = by_method[(how, "right")], by_method[(how, "wrong")]
        methods[how] = {"links": right + wrong, "precision": round(right / (right + wrong), 3)}
    return {"gold_mentions": total, **{k: round(counts[k] / total, 3) for k in ("right", "wrong", "ambiguous",
                                                                                 "not found")},
            "by_method": methods, "ms_per_sentence": round(1000 * (time.perf_counter() - started) / len(sentences), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="*",
                        default=[SHARED / "fewrel" / "wiki_public.json", SHARED / "fewrel" / "nyt.json"])
    parser.add_argument("--graph", type=Path, default=None, help="an RDF file instead of the graph built from "
                                                                 "FewRel names and CoDEx-M")
    parser.add_argument("--limit", type=int, default=3000, help="sentences, drawn at random")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--exact-only", action="store_true", help="link by exact names alone (the behaviour "
                                                                  "before spelling and context)")
    args = parser.parse_args()

    import pyoxigraph as ox

    from kgrel.kg.ingest import ingest_file
    from kgrel.kg.linking import LabelIndex
    from kgrel.kg.namespaces import RDF, RDFS
    from kgrel.kg.store import open_store

    sentences = gold_sentences(args.data, args.limit, args.seed)
    rng = random.Random(args.seed)
    results = {}
    with tempfile.TemporaryDirectory(prefix="kgrel-linking-") as tmp:
        store = open_store(Path(tmp) / "store")
        if args.graph:
            ingest_file(store, args.graph)
        else:
            store.insert(bench_graph())
        index = LabelIndex.build(store)
        named = {iri for entities in index.names.values() for iri in entities}
        results["as written"] = run_setting(store, index, sentences, named, args.exact_only)
        typo = []
        for text, gold in sentences:
            changed_text, changed = with_typos(text, gold, rng)
            typo.append((changed_text, changed))
        results["typo"] = run_setting(store, index, typo, named, args.exact_only)
        label = ox.NamedNode(RDFS + "label")
        decoys = [ox.Quad(ox.NamedNode(DECOY_CLASS), label, ox.Literal("imaginary thing"))]
        for key, entities in index.names.items():
            for i in range(len(entities)):
                decoy = ox.NamedNode(f"urn:kgrel:bench:decoy:{i}:{'_'.join(key)}")
                decoys += [ox.Quad(decoy, label, ox.Literal(" ".join(key))),
                           ox.Quad(decoy, ox.NamedNode(RDF + "type"), ox.NamedNode(DECOY_CLASS))]
        store.insert(decoys)
        results["shared name"] = run_setting(store, LabelIndex.build(store), sentences, named, args.exact_only)
        store.close()
    report = {"graph": args.graph.name if args.graph else "FewRel names + CoDEx-M", "exact_only": args.exact_only,
              "sentences": len(sentences), "settings": results,
              "hardware": hardware()}
    for name, r in results.items():
        print(f"{name:12s} right {r['right']:.3f}  wrong {r['wrong']:.3f}  ambiguous {r['ambiguous']:.3f}  "
              f"not found {r['not found']:.3f}  ({r['gold_mentions']} gold mentions)  by method {r['by_method']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
