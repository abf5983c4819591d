"""Errors raised by the knowledge-graph layer; each message tells the user what to fix."""


class KGError(Exception):
    """Base class: a problem with the user's input or the store."""


class RDFSyntaxError(KGError):
    """RDF input that does not parse; carries the position the parser reported."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        where = ""
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "") + ": "
        super().__init__(f"{where}{message}")


class UnsupportedFormat(KGError):
    """A media type or file extension that names no RDF format kgrel parses."""


class InvalidIdentifier(KGError):
    """Neither a full IRI nor a CURIE with a known prefix."""


class SparqlError(KGError):
    """A SPARQL request that is malformed or not allowed on the endpoint used."""


class NotFound(KGError):
    """The requested relation, example or entity is not in the store."""


class StoreUnavailable(KGError):
    """The store cannot be opened or reached (locked by another process, endpoint down)."""


class UnsafeInput(KGError):
    """Input refused because processing it could exhaust the server (an XML entity bomb, say)."""


class InputTooLarge(KGError):
    """Input over a size limit: a request body, one RDF term, a batch."""
