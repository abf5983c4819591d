"""`kgrel ingest FILE`: add an RDF file to the store, atomically, with a progress bar."""

from __future__ import annotations

import contextlib
import gzip
import json
import sys
from pathlib import Path

import httpx
from tqdm import tqdm

from kgrel.app.cli.common import add_common, auth_headers, fail, settings_from
from kgrel.kg.errors import KGError
from kgrel.kg.formats import MEDIA_TYPES, format_by_name, format_for_path
from kgrel.kg.ingest import ingest
from kgrel.kg.prefixes import PrefixMap
from kgrel.kg.store import open_store


def register(sub) -> None:
    p = sub.add_parser("ingest", help="add an RDF file to the store (atomic)")
    p.add_argument("file")
    p.add_argument("--graph", help="named graph (IRI or CURIE) for triples outside any named graph")
    p.add_argument("--format", help="turtle, nt, nquads, trig, jsonld or rdfxml (default: from the extension)")
    p.add_argument("--url", help="send to a running kgrel server instead of opening the store")
    p.add_argument("--api-key")
    add_common(p, model=False)
    p.set_defaults(func=run)


def run(args) -> int:
    path = Path(args.file)
    if not path.is_file():
        return fail(f"{path}: no such file")
    try:
        rdf_format = format_by_name(args.format) if args.format else format_for_path(path)
    except KGError as e:
        return fail(str(e))
    if args.url:
        return _http_ingest(args, path, rdf_format)

    settings = settings_from(args)
    try:
        store = open_store(settings.store_location(), settings.store_update_url, settings.store_engine)
    except KGError as e:
        return fail(str(e))
    prefixes = PrefixMap(settings.data_dir / "prefixes.json")
    graph = prefixes.expand(args.graph) if args.graph else None
    try:
        with _progress_reader(path) as source:
            report = ingest(store, source, rdf_format, graph=graph, base_iri=path.resolve().as_uri(),
                            strict_literals=settings.strict_literals)
    except KGError as e:
        return fail(f"{path}: {e} (nothing was inserted)")
    finally:
        store.close()
    prefixes.add(report.prefixes)
    print(json.dumps({"file": str(path), "added": report.added, "parsed": report.parsed, "graph": graph,
                      "rewritten": report.rewritten,
                      "rewritten_examples": [{"given": g, "stored": s} for g, s in report.rewritten_examples]}))
    return 0


def _progress_reader(path: Path):
    """The file opened for reading, gunzipped when it ends in .gz, with a byte progress bar on stderr."""

    @contextlib.contextmanager
    def opened():
        with open(path, "rb") as raw, tqdm.wrapattr(raw, "read", total=path.stat().st_size, desc=path.name,
                                                    file=sys.stderr, leave=False) as tracked:
            yield gzip.GzipFile(fileobj=tracked) if path.suffix == ".gz" else tracked

    return opened()


def _http_ingest(args, path: Path, rdf_format) -> int:
    media = next(m for m, f in MEDIA_TYPES.items() if f == rdf_format)
    body = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    params = {"graph": args.graph} if args.graph else {}
    response = httpx.post(args.url.rstrip("/") + "/graph/triples", content=body, params=params,
                          headers={"Content-Type": media, **auth_headers(args)}, timeout=None)
    print(response.text)
    return 0 if response.is_success else 1
