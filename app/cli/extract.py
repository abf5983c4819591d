"""`kgrel extract`: facts from a corpus, written to N-Quads with provenance, resumable after a crash.

    kgrel extract --input DOCS --output FACTS.nq [--ingest] [--graph IRI] [--batch-size N] [--threshold T]
                  [--ray local|ADDRESS] [--actors N]

DOCS is a JSON Lines file of {"id", "text"}, a plain-text file (one document), or a folder of both.
A rerun with the same output skips the documents already done (`kg.fact_log`). With --ray the same
pipeline runs in model actors on Ray Data (`app/services/corpus.py`), on this machine or a cluster.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

from kgrel.app.cli.common import add_common, fail, settings_from
from kgrel.kg.errors import KGError

DEFAULT_GRAPH = "urn:kgrel:graph:extraction"


def register(sub) -> None:
    p = sub.add_parser("extract", help="extract facts from documents into an N-Quads file (resumable)")
    p.add_argument("--input", type=Path, required=True, help="JSON Lines {id, text}, a .txt file, or a folder")
    p.add_argument("--output", type=Path, required=True, help="N-Quads file of facts with provenance")
    p.add_argument("--graph", default=DEFAULT_GRAPH, help="named graph of the facts (IRI or CURIE)")
    p.add_argument("--batch-size", type=int, default=16, help="documents per batch (one progress record each)")
    p.add_argument("--threshold", type=float, default=None, help="none-of-the-above threshold (the model's)")
    p.add_argument("--ingest", action="store_true", help="add the facts to the store when done")
    p.add_argument("--ray", metavar="ADDRESS", help="run on Ray Data: 'local' starts a Ray instance here, else "
                                                    "the address of a cluster (ray://host:10001, or auto)")
    p.add_argument("--actors", type=int, help="model actors on Ray (default: one per GPU, else one per CPU)")
    add_common(p)
    p.set_defaults(func=run)


def documents(path: Path) -> Iterator[tuple[str, str]]:
    """(id, text) of every document under `path`, in a stable order."""
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".txt")):
            where = child.relative_to(path).as_posix()  # ids unique across subfolders with files of one name
            for doc_id, text in documents(child):
                yield (f"{where}#{doc_id}" if child.suffix == ".jsonl" else where), text
        return
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    yield str(record.get("id", number)), record["text"]
                except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                    raise ValueError(f"{path}:{number}: expected a JSON object with \"text\" (and \"id\")") from None
        return
    yield path.name, path.read_text(encoding="utf-8")


def run(args) -> int:
    if not args.input.exists():
        return fail(f"{args.input}: no such file or folder")
    from tqdm import tqdm

    from kgrel.app.services import KgrelService
    from kgrel.app.services.graph import GraphService
    from kgrel.app.services.model import ModelService
    from kgrel.kg.fact_log import FactLog

    settings = settings_from(args)
    try:
        # On Ray the actors hold the model: this process needs only the graph (to copy it to them).
        service = None if args.ray else KgrelService(settings)
        graph_service = GraphService(settings) if service is None else service.graph
    except KGError as e:
        return fail(str(e))
    try:
        log = FactLog(args.output)
        graph = graph_service.iri(args.graph)
        model = ModelService.saved_choice(settings) if service is None else service.models.active
        bar = tqdm(desc="documents", unit="doc", file=sys.stderr)
        try:
            if args.ray:
                pending, skipped = [], 0
                for doc_id, text in documents(args.input):
                    if doc_id in log.done:
                        skipped += 1
                    else:
                        pending.append((doc_id, text))
                done = len(pending)
                facts = _on_ray(args, settings, graph_service, graph, pending, log, bar)
            else:
                seen = [0]

                def advance(progress) -> None:
                    bar.update(progress.documents - seen[0])
                    seen[0] = progress.documents

                progress = service.extraction.extract_corpus(documents(args.input), log, graph=graph, model=model,
                                                             threshold=args.threshold, batch_size=args.batch_size,
                                                             on_batch=advance)
                done, skipped, facts = progress.documents, progress.skipped, progress.facts
        except ValueError as e:
            return fail(str(e))
        finally:
            bar.close()
        summary = {"output": str(args.output), "documents": done, "skipped": skipped, "facts": facts,
                   "graph": graph}
        if args.ingest:
            summary["ingested"] = graph_service.ingest_file(args.output).added
        print(json.dumps(summary))
        return 0
    finally:
        graph_service.close()


def _on_ray(args, settings, graph_service, graph: str, pending: list[tuple[str, str]], log, bar) -> int:
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray Data: pip install 'kgrel[ray]' (or 'ray[data]')") from None

    from kgrel.app.services.corpus import extract_on_ray

    if not pending:
        return 0
    ray.init(address=None if args.ray == "local" else args.ray, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        facts = 0
        batches = extract_on_ray(pending, settings=settings, graph_dump=graph_service.store.dump(),
                                 graph=graph, threshold=args.threshold, actors=args.actors, batch_size=args.batch_size)
        for ids, data, found in batches:
            log.write_serialized(ids, data)
            facts += found
            bar.update(len(ids))
        return facts
    finally:
        ray.shutdown()
