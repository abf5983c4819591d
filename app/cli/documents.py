"""`kgrel eval documents`: the documents protocol (GUIDE section 3), run through the service as it serves.

Held-out documents of a DocRED-format file are read whole, the way a curator uses kgrel: every relation is
registered with its label and description, the graph holds the documents' entities (label, and type unless
--no-types), K examples per relation come from the other documents, and each document goes through the
service's extraction (`ExtractionService.extract`, what /extract runs) with its mentions given or found by
kgrel; with --http, each document is POSTed to /extract of a server on a loopback port instead (uvicorn in
this process, over the same store and model), so the HTTP layer is measured too. The facts returned are
scored by `models.relation.extraction_evaluation.DocumentEvaluator`.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kgrel.app.cli.common import add_common, fail, settings_from


def register(ev) -> None:
    d = ev.add_parser("documents", help="read held-out DocRED-format documents as served and score their facts")
    d.add_argument("--docs", required=True, help="DocRED-format file (e.g. Re-DocRED's dev_docs.json)")
    d.add_argument("--side-info", required=True, help="pid2name.json: label and description of each relation")
    d.add_argument("--eval-count", type=int, default=100, help="documents held out and read (the split's dev part)")
    d.add_argument("--split-seed", type=int, default=0, help="seed of the document split (training's)")
    d.add_argument("--limit", type=int, help="read only the first N held-out documents")
    d.add_argument("--shots", default="0,1,5", help="examples per relation, comma-separated")
    d.add_argument("--mentions", choices=["given", "found"], default="given")
    d.add_argument("--no-types", action="store_true", help="the graph gives the entities no class")
    d.add_argument("--graph-facts", action="store_true",
                   help="the graph also holds the facts of the other documents (between entities named alike), "
                        "as a curator's graph holds facts of these relations already")
    d.add_argument("--seed", type=int, default=0, help="which examples are drawn")
    d.add_argument("--threshold", type=float, help="score facts at this threshold (default: the service's)")
    d.add_argument("--http", action="store_true",
                   help="read each document through POST /extract of a server on a loopback port")
    add_common(d)
    d.set_defaults(func=run)


def entity_iri(label: str) -> str:
    """One entity per name: DocRED gives entities no identifier, and linking by name needs one name, one entity."""
    return "urn:kgrel:bench:entity:" + hashlib.sha1(label.encode()).hexdigest()[:16]


def class_iri(kind: str) -> str:
    return "urn:kgrel:bench:class:" + kind


def entity_names(doc) -> list[str]:
    """Each entity's name: its first mention's words."""
    text = doc.document.text
    return [text[e.mentions[0][0]:e.mentions[0][1]] if e.mentions else "" for e in doc.document.entities]


def graph_ntriples(docs, types: bool, facts_of=()) -> bytes:
    """The documents' entities as a graph: a label each and, with `types`, a class with its label; and the facts
    of the documents `facts_of` (their entities named alike are one entity)."""
    from kgrel.kg.namespaces import RDF, RDFS, WDT
    from kgrel.models.relation.docred import TYPE_LABELS

    def literal(text: str) -> str:
        return json.dumps(text, ensure_ascii=False) + "@en"

    lines = set()
    if types:
        for kind, label in TYPE_LABELS.items():
            lines.add(f"<{class_iri(kind)}> <{RDFS}label> {literal(label)} .")
    for doc in docs:
        for name, kind in zip(entity_names(doc), doc.types, strict=True):
            if not name.strip():
                continue
            lines.add(f"<{entity_iri(name)}> <{RDFS}label> {literal(name)} .")
            if types:
                lines.add(f"<{entity_iri(name)}> <{RDF}type> <{class_iri(kind)}> .")
    for doc in facts_of:
        names = entity_names(doc)
        for h, r, t in doc.facts:
            if names[h].strip() and names[t].strip() and names[h] != names[t]:
                lines.add(f"<{entity_iri(names[h])}> <{WDT}{r}> <{entity_iri(names[t])}> .")
    return "\n".join(sorted(lines)).encode() + b"\n"


def register_relations(service, relations: list[str], side: dict) -> None:
    from kgrel.kg.namespaces import WDT
    from kgrel.kg.relations import RelationSpec

    for r in relations:
        info = side[r]
        service.graph.register_relation(RelationSpec(WDT + r, info.label, description=info.description))


def draw_examples(train_docs, relations: list[str], k: int, seed: int) -> dict[str, list]:
    """K single-sentence examples per relation from the documents `train_docs` (fewer where they have fewer),
    drawn with `seed`, their entities named as the graph names them (`entity_iri`)."""
    from kgrel.models.relation.document_training import example_instances

    pool: dict[str, list] = {r: [] for r in relations}
    for doc in train_docs:
        iris = [entity_iri(name) if name.strip() else None for name in entity_names(doc)]
        for r, x in example_instances(doc, set(relations), iris.__getitem__):
            pool[r].append(x)
    rng = random.Random(seed)
    return {r: rng.sample(pool[r], min(k, len(pool[r]))) for r in relations}


def add_examples(service, train_docs, relations: list[str], k: int, seed: int) -> dict[str, int]:
    """The store's examples become K single-sentence examples per relation from the other documents
    (`draw_examples`); returns how many each got."""
    from kgrel.app.cli.sentences import replace_examples
    from kgrel.kg.namespaces import WDT

    chosen = draw_examples(train_docs, relations, k, seed)
    replace_examples(service, {WDT + r: items for r, items in chosen.items()})
    return {r: len(items) for r, items in chosen.items()}


def given_mentions(doc) -> list[dict]:
    """Every mention of the document's named entities, with its entity, as /extract takes them."""
    names = entity_names(doc)
    return [{"start": s, "end": e, "entity": entity_iri(names[i])} for i, ent in enumerate(doc.document.entities)
            for s, e in ent.mentions if names[i].strip()]


# (text, mentions of the one document or None, threshold) -> [(head IRI, relation IRI, tail IRI, score)]
Extract = Callable[[str, list[dict] | None, float], list[tuple[str, str, str, float]]]


def in_process(service) -> Extract:
    def extract(text, mentions, threshold):
        found = service.extraction.extract([text], mentions=None if mentions is None else [mentions],
                                           threshold=threshold)
        return [(f.head, f.relation, f.tail, f.score) for f in found]
    return extract


@contextmanager
def served(settings, model) -> Iterator[Extract]:
    """A kgrel server over `settings` (its data dir, this `model`) on a free loopback port, uvicorn in a thread
    of this process; yields an `Extract` that POSTs /extract to it."""
    import socket
    import threading

    import httpx
    import uvicorn

    from kgrel.app.main import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, model=model), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the kgrel server did not start (see the log above)")
        time.sleep(0.05)
    client = httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=600)

    def extract(text, mentions, threshold):
        body = {"text": text, "threshold": threshold, **({"mentions": [mentions]} if mentions is not None else {})}
        r = client.post("/extract", json=body)
        r.raise_for_status()
        return [(f["head"], f["relation"], f["tail"], f["score"]) for f in r.json()["facts"]]

    try:
        yield extract
    finally:
        client.close()
        server.should_exit = True
        thread.join()
        sock.close()


def read_documents(extract: Extract, docs, mentions: str, threshold: float) -> tuple[list[dict], float]:
    """Each document through `extract`; returns its facts {(h, r, t): score} and seconds per document."""
    from kgrel.kg.namespaces import WDT

    out, seconds = [], 0.0
    for doc in docs:
        names = entity_names(doc)
        iris = [entity_iri(n) for n in names]
        index: dict[str, list[int]] = {}
        for i, iri in enumerate(iris):
            index.setdefault(iri, []).append(i)
        given = given_mentions(doc) if mentions == "given" else None
        started = time.perf_counter()
        facts = extract(doc.document.text, given, threshold)
        seconds += time.perf_counter() - started
        found: dict[tuple[int, str, int], float] = {}
        for head, relation_iri, tail, score in facts:
            relation = relation_iri.removeprefix(WDT)
            for h in index.get(head, []):
                for t in index.get(tail, []):
                    key = (h, relation, t)
                    found[key] = max(found.get(key, 0.0), score)
        out.append(found)
    return out, seconds / max(1, len(docs))


def trained_relations(model_dir: str | None) -> tuple[list[str], list[str]]:
    """The relations a model folder trained on and held out, from its training.json ([] when unknown)."""
    if not model_dir or not (Path(model_dir) / "training.json").exists():
        return [], []
    record = json.loads((Path(model_dir) / "training.json").read_text())
    return list(record.get("relations", [])), list(record.get("held_out", []))


def evaluate(args, settings) -> dict:
    from kgrel.app.services import KgrelService
    from kgrel.models.relation.docred import DOCRED_RELATIONS, load_docred, relation_infos, split_documents
    from kgrel.models.relation.extraction_evaluation import DocumentEvaluator

    docs = load_docred(args.docs, type_classes=False)
    split = split_documents(docs, args.eval_count, args.split_seed)
    eval_docs = split.dev[:args.limit] if args.limit else split.dev
    relations = DOCRED_RELATIONS
    side = relation_infos(args.side_info, relations)
    trained, held_out = trained_relations(settings.model_location())
    evaluator = DocumentEvaluator(eval_docs, relations, trained)
    results = {"documents": len(eval_docs), "relations": len(relations), "mentions": args.mentions,
               "types": not args.no_types, "graph_facts": args.graph_facts, "trained_relations": len(trained),
               "held_out_relations": held_out,
               "model": settings.model_location(), "read_through": "http" if args.http else "in-process",
               "by_shots": {}}
    with tempfile.TemporaryDirectory(prefix="kgrel-documents-") as tmp:
        settings = settings.model_copy(update={"data_dir": Path(tmp), "load_demo": False})
        service = KgrelService(settings)
        try:
            import pyoxigraph as ox

            # The entities of every document (the examples name those of the others), and with --graph-facts
            # the other documents' facts.
            service.graph.ingest(graph_ntriples(list(eval_docs) + list(split.train), types=not args.no_types,
                                                facts_of=split.train if args.graph_facts else ()),
                                 ox.RdfFormat.N_TRIPLES)
            register_relations(service, relations, side)
            for k in [int(x) for x in args.shots.split(",")]:
                given = add_examples(service, split.train, relations, k, args.seed)
                threshold = service.predictions.threshold() if args.threshold is None else args.threshold
                if args.http:  # the embedded store is one process's: the server takes it over while it reads
                    model = service.predictions.model
                    service.close()
                    service = None
                    with served(settings, model) as extract:
                        returned, seconds = read_documents(extract, eval_docs, args.mentions, threshold=0.01)
                    service = KgrelService(settings, model=model)
                else:
                    returned, seconds = read_documents(in_process(service), eval_docs, args.mentions,
                                                       threshold=0.01)
                scored = evaluator(returned, threshold)
                scored["seconds_per_document"] = round(seconds, 3)
                scored["relations_with_examples"] = sum(1 for n in given.values() if n)
                results["by_shots"][str(k)] = scored
                print(json.dumps({"shots": k, **{g: scored["groups"][g] for g in ("trained", "held_out")},
                                  "seconds_per_document": scored["seconds_per_document"]}), file=sys.stderr)
        finally:
            if service is not None:
                service.close()
    return results


def run(args) -> int:
    settings = settings_from(args)
    if not Path(args.docs).exists():
        return fail(f"--docs: no file {args.docs}")
    results = evaluate(args, settings)
    print(json.dumps(results))
    return 0
