"""Mapping between media types, file names and the RDF formats the store parses."""

from pathlib import Path

import pyoxigraph as ox

from kgrel.kg.errors import UnsupportedFormat

MEDIA_TYPES: dict[str, ox.RdfFormat] = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/x-turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "text/plain": ox.RdfFormat.N_TRIPLES,  # the historical N-Triples media type
    "application/n-quads": ox.RdfFormat.N_QUADS,
    "text/x-nquads": ox.RdfFormat.N_QUADS,
    "application/trig": ox.RdfFormat.TRIG,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/xml": ox.RdfFormat.RDF_XML,
    "text/xml": ox.RdfFormat.RDF_XML,
}

EXTENSIONS: dict[str, ox.RdfFormat] = {
    ".ttl": ox.RdfFormat.TURTLE,
    ".nt": ox.RdfFormat.N_TRIPLES,
    ".nq": ox.RdfFormat.N_QUADS,
    ".trig": ox.RdfFormat.TRIG,
    ".jsonld": ox.RdfFormat.JSON_LD,
    ".json": ox.RdfFormat.JSON_LD,
    ".rdf": ox.RdfFormat.RDF_XML,
    ".owl": ox.RdfFormat.RDF_XML,
    ".xml": ox.RdfFormat.RDF_XML,
}

SUPPORTED_MEDIA_TYPES = sorted({"text/turtle", "application/n-triples", "application/n-quads",
                                "application/trig", "application/ld+json", "application/rdf+xml"})


def format_for_media_type(content_type: str | None) -> ox.RdfFormat:
    """The RDF format named by a Content-Type header (parameters such as charset are ignored)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise UnsupportedFormat(
            f"unsupported Content-Type {media or '(none)'!r}; send one of: " + ", ".join(SUPPORTED_MEDIA_TYPES)
        )
    return MEDIA_TYPES[media]


def format_for_path(path: Path) -> ox.RdfFormat:
    """The RDF format of a file from its extension; a trailing .gz is looked through."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in EXTENSIONS:
        raise UnsupportedFormat(
            f"cannot tell the RDF format of {path.name!r} from its extension; use one of "
            + ", ".join(sorted(EXTENSIONS)) + " (optionally .gz), or pass --format"
        )
    return EXTENSIONS[suffixes[-1]]


def format_by_name(name: str) -> ox.RdfFormat:
    """The RDF format for a short name (turtle, nt, nquads, trig, jsonld, rdfxml) or an extension."""
    aliases = {"turtle": ".ttl", "ttl": ".ttl", "nt": ".nt", "ntriples": ".nt", "n-triples": ".nt",
               "nq": ".nq", "nquads": ".nq", "n-quads": ".nq", "trig": ".trig", "jsonld": ".jsonld",
               "json-ld": ".jsonld", "rdfxml": ".rdf", "rdf/xml": ".rdf", "xml": ".rdf"}
    key = aliases.get(name.lower().lstrip("."))
    if key is None:
        raise UnsupportedFormat(f"unknown RDF format {name!r}; use one of " + ", ".join(sorted(set(aliases))))
    return EXTENSIONS[key]
