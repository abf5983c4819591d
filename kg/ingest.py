"""Parse RDF in any supported format and add it to the store in one transaction."""

from __future__ import annotations

import contextlib
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pyoxigraph as ox

from kgrel.kg.errors import RDFSyntaxError
from kgrel.kg.formats import format_for_path
from kgrel.kg.store import KnowledgeStore


@dataclass
class IngestReport:
    """What an ingest did: quads parsed from the input, and how many of them were new to the store."""

    parsed: int
    added: int
    prefixes: dict[str, str] = field(default_factory=dict)


def parse_rdf(source: bytes | IO[bytes], rdf_format: ox.RdfFormat, *, base_iri: str | None = None,
              graph: str | None = None) -> tuple[list[ox.Quad], dict[str, str]]:
    """All quads of the input and the prefixes it declares; the whole input is read before anything is kept.

    Triples outside a named graph go to `graph` when given. Raises RDFSyntaxError naming the line
    (and column where the parser reports one) of the first error.
    """
    target = ox.NamedNode(graph) if graph else None
    parser = ox.parse(source, format=rdf_format, base_iri=base_iri, rename_blank_nodes=True)
    quads: list[ox.Quad] = []
    try:
        for quad in parser:
            if target is not None and isinstance(quad.graph_name, ox.DefaultGraph):
                quad = ox.Quad(quad.subject, quad.predicate, quad.object, target)
            quads.append(quad)
    except SyntaxError as e:
        # pyoxigraph's message already names the position; keep the numbers apart for the API.
        message = e.msg
        for lead in ("Parser error at ", "Parser error between "):
            if message.startswith(lead):
                message = message.split(": ", 1)[-1]
        raise RDFSyntaxError(f"{rdf_format.name} syntax error: {message}", e.lineno, e.offset) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise RDFSyntaxError(f"{rdf_format.name} input is invalid: {e}") from None
    prefixes: dict[str, str] = {}
    with contextlib.suppress(AttributeError, ValueError):  # formats without prefix declarations
        prefixes = dict(parser.prefixes)
    return quads, prefixes


def ingest_file(store: KnowledgeStore, path: Path, rdf_format: ox.RdfFormat | None = None, *,
                graph: str | None = None) -> IngestReport:
    """Ingest an RDF file (gunzipped when it ends in .gz; format from the extension unless given)."""
    rdf_format = rdf_format or format_for_path(path)
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        return ingest(store, f, rdf_format, graph=graph, base_iri=path.resolve().as_uri())


def ingest(store: KnowledgeStore, source: bytes | IO[bytes], rdf_format: ox.RdfFormat, *,
           base_iri: str | None = None, graph: str | None = None) -> IngestReport:
    """Parse everything, then insert in one transaction: a syntax error anywhere inserts nothing."""
    quads, prefixes = parse_rdf(source, rdf_format, base_iri=base_iri, graph=graph)
    added = store.insert(quads)
    return IngestReport(parsed=len(quads), added=added, prefixes=prefixes)
