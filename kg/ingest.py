"""Parse RDF in any supported format and add it to the store in one transaction.

Every way input can fail is a KGError naming the problem (a 4xx over HTTP): syntax, a bad base
IRI, a term over the parser's size limit, an RDF/XML entity bomb, and, in strict mode, typed
literals the store would rewrite.
"""

from __future__ import annotations

import contextlib
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pyoxigraph as ox

from kgrel.kg import graph_store
from kgrel.kg.changes import ALL, aspects_changed, relations_with_new_facts
from kgrel.kg.errors import InputTooLarge, InvalidIdentifier, KGError, RDFSyntaxError
from kgrel.kg.formats import format_for_path
from kgrel.kg.ontology import OntologyView
from kgrel.kg.store import KnowledgeStore
from kgrel.kg.xml_entities import check_entities

EXAMPLES_SHOWN = 5


class LiteralsRewritten(KGError):
    """Strict ingest refused typed literals that the store would store in another form."""


@dataclass
class IngestReport:
    """What an ingest did: quads parsed from the input, and how many of them were new to the store."""

    parsed: int
    added: int
    prefixes: dict[str, str] = field(default_factory=dict)
    # Typed literals the store keeps in canonical form ("0042"^^xsd:int is read back as "42"^^xsd:integer).
    rewritten: int | None = 0  # None: the store cannot tell
    rewritten_examples: list[tuple[str, str]] = field(default_factory=list)
    # What the new triples change (`kg.changes`), so that only that is rebuilt.
    changes: frozenset[str] = frozenset()
    # Relations whose observed domain/range the new facts can move; None: possibly any.
    fact_relations: frozenset[str] | None = None


def parse_rdf(source: bytes | IO[bytes], rdf_format: ox.RdfFormat, *, base_iri: str | None = None,
              graph: str | None = None) -> tuple[list[ox.Quad], dict[str, str]]:
    """All quads of the input and the prefixes it declares; the whole input is read before anything is kept.

    Triples outside a named graph go to `graph` when given. Raises RDFSyntaxError naming the line
    (and column where the parser reports one) of the first error.
    """
    target = ox.NamedNode(graph) if graph else None
    if rdf_format == ox.RdfFormat.RDF_XML:
        source = source if isinstance(source, bytes) else source.read()
        check_entities(source)
    try:
        parser = ox.parse(source, format=rdf_format, base_iri=base_iri, rename_blank_nodes=True)
    except ValueError as e:
        raise InvalidIdentifier(f"invalid base IRI {base_iri!r}: {e}") from None
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
    except MemoryError as e:  # the parser's own cap on one token: a literal or IRI over 16 MiB
        raise InputTooLarge(f"{rdf_format.name} input has a term (literal or IRI) longer than the parser "
                            f"accepts ({e}); store large text outside the graph and link to it") from None
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
           base_iri: str | None = None, graph: str | None = None, strict_literals: bool = False) -> IngestReport:
    """Parse everything, then insert in one transaction: a syntax error anywhere inserts nothing.

    Typed literals the store rewrites are counted in the report; with `strict_literals` they are
    refused instead, and nothing is inserted."""
    quads, prefixes = parse_rdf(source, rdf_format, base_iri=base_iri, graph=graph)
    rewritten, examples = _literal_report(store, quads, strict_literals)
    added = store.insert(quads)
    ontology = OntologyView(store)
    changes = aspects_changed(ontology, quads) if added else frozenset()
    fact_relations = relations_with_new_facts(ontology, quads) if added else frozenset()
    return IngestReport(parsed=len(quads), added=added, prefixes=prefixes, rewritten=rewritten,
                        rewritten_examples=examples, changes=changes, fact_relations=fact_relations)


def replace_graph(store: KnowledgeStore, source: bytes | IO[bytes], rdf_format: ox.RdfFormat, graph: str | None, *,
                  base_iri: str | None = None, strict_literals: bool = False) -> tuple[IngestReport, bool]:
    """Make one graph (None: the default graph) hold exactly the input's triples, in one transaction.
    Returns the report and whether the graph is new."""
    quads, prefixes = parse_rdf(source, rdf_format, base_iri=base_iri)
    quads = graph_store.in_graph(quads, graph)
    rewritten, examples = _literal_report(store, quads, strict_literals)
    created = graph_store.replace(store, graph, quads)
    report = IngestReport(parsed=len(quads), added=len(set(quads)), prefixes=prefixes, rewritten=rewritten,
                          rewritten_examples=examples, changes=ALL)
    return report, created


def _literal_report(store: KnowledgeStore, quads: list[ox.Quad],
                    strict: bool) -> tuple[int | None, list[tuple[str, str]]]:
    """How many typed literals the store would rewrite (None: it cannot tell), with a few examples;
    in strict mode, any of them refuses the whole input."""
    rewrites = store.rewritten_literals(q.object for q in quads if isinstance(q.object, ox.Literal))
    if rewrites is None:
        return None, []
    examples = [(str(given), str(stored)) for given, stored in list(rewrites.items())[:EXAMPLES_SHOWN]]
    if rewrites and strict:
        shown = "; ".join(f"{given} would be stored as {stored}" for given, stored in examples)
        raise LiteralsRewritten(f"{len(rewrites)} typed literal(s) would not be stored as written (strict "
                                f"literals are on): {shown}. Write them in canonical form, or use a store "
                                "that keeps lexical forms")
    return len(rewrites), examples
