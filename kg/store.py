"""The RDF store: embedded Oxigraph on disk (default) or a remote SPARQL 1.1 endpoint, behind one class.

Callers never know which backend they talk to. Terms are pyoxigraph terms on both; an rdflib
``Dataset`` view of the same data is available as ``store.dataset`` for Python interop.

Internal queries assume the default graph is the union of all graphs: the embedded store
queries that way, and a remote endpoint must be configured so (``oxigraph serve
--union-default-graph``, Fuseki ``tdb:unionDefaultGraph``).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pyoxigraph as ox

from kgrel.kg.dialects import DIALECTS
from kgrel.kg.errors import SparqlError, StoreUnavailable
from kgrel.kg.sparql_text import syntax_message

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple
QueryResult = ox.QuerySolutions | ox.QueryBoolean | list[ox.Triple]

# Datatypes stored as written: plain strings and language-tagged strings.
_KEPT_DATATYPES = {"http://www.w3.org/2001/XMLSchema#string", "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"}

# On an endpoint whose default graph is the union, this counts distinct triples of all graphs.
_COUNT_QUADS = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


class KnowledgeStore(ABC):
    """An RDF dataset kgrel reads with SPARQL and writes atomically."""

    # Whether a client query may run in a forked child (`kg.isolation`): true of the embedded store,
    # whose data a child can read; a remote endpoint is bounded by its request timeout instead.
    can_fork_queries = False
    # Whether other processes may write to the same data (several kgrel workers over one SPARQL server):
    # then writes leave a version stamp (`kg.stamp`) and jobs are recorded in the graph (`kg.job_board`).
    shared = False

    @abstractmethod
    def query(self, sparql: str, *, default_graphs: Sequence[str] | None = None,
              named_graphs: Sequence[str] | None = None, prefixes: dict[str, str] | None = None) -> QueryResult:
        """Run a SPARQL query: solutions for SELECT, a boolean for ASK, triples for CONSTRUCT/DESCRIBE.

        Raises SparqlError for a malformed query (or an update sent as a query).
        """

    @abstractmethod
    def insert(self, quads: Iterable[ox.Quad]) -> int:
        """Add quads in one transaction (all or nothing); returns how many were not already there."""

    @abstractmethod
    def update(self, sparql_update: str, prefixes: dict[str, str] | None = None) -> None:
        """Run a SPARQL update in one transaction. Client text goes through `kg.sparql.run_update`."""

    def dump(self) -> bytes | None:
        """Every quad as N-Quads, for workers that need their own copy; None where they can reach the
        store themselves (a remote endpoint)."""
        return None

    def default_pattern(self, pattern: str) -> str:
        """A pattern of an update that means the default graph (a store may keep it as a named graph)."""
        return pattern

    def rewritten_literals(self, literals: Iterable[ox.Literal]) -> dict[ox.Literal, ox.Literal] | None:
        """Literals this store would not give back as written, each with the form it keeps; None when
        the store cannot tell (a remote endpoint: what it keeps depends on its engine)."""
        return None

    @abstractmethod
    def count(self) -> int:
        """Number of quads in the whole dataset (a remote union endpoint: distinct triples)."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def description(self) -> str:
        """Where the data lives, for /health and logs."""

    @property
    @abstractmethod
    def dataset(self) -> Any:
        """An rdflib ``Dataset`` over the same data (union default graph), for Python interop."""

    # Helpers shared by both backends -------------------------------------------------------

    def select(self, sparql: str, prefixes: dict[str, str] | None = None) -> list[dict[str, Term]]:
        """Rows of a SELECT query as {variable: term}; unbound variables are absent."""
        result = self.query(sparql, prefixes=prefixes)
        if not isinstance(result, ox.QuerySolutions):
            raise SparqlError("expected a SELECT query")
        names = [v.value for v in result.variables]
        rows = []
        for solution in result:
            row = {}
            for name in names:
                value = solution[name]
                if value is not None:
                    row[name] = value
            rows.append(row)
        return rows

    def ask(self, sparql: str, prefixes: dict[str, str] | None = None) -> bool:
        result = self.query(sparql, prefixes=prefixes)
        if not isinstance(result, ox.QueryBoolean):
            raise SparqlError("expected an ASK query")
        return bool(result)

    def ping(self) -> bool:
        """True when the store answers a trivial query."""
        try:
            return self.ask("ASK { }")
        except (StoreUnavailable, SparqlError):
            return False


class EmbeddedStore(KnowledgeStore):
    """Oxigraph (RocksDB) in a directory of its own, persistent and transactional; one process at a time."""

    can_fork_queries = True

    def __init__(self, path: Path | None):
        self.path = path
        try:
            if path is None:
                self._ox = ox.Store()
            else:
                path.mkdir(parents=True, exist_ok=True)
                self._ox = ox.Store(str(path))
        except OSError as e:
            raise StoreUnavailable(
                f"cannot open the store at {path}: {e}. Another kgrel process (a running server?) may hold it; "
                "stop it, or send the data to that server with --url"
            ) from None
        # Writes are serialised so that the 'added' count of an ingest is exact.
        self._write_lock = threading.Lock()
        self._dataset = None

    def query(self, sparql, *, default_graphs=None, named_graphs=None, prefixes=None):
        kwargs: dict[str, Any] = {"prefixes": prefixes or None}
        if default_graphs:
            kwargs["default_graph"] = [_graph_node(g) for g in default_graphs]
        else:
            kwargs["use_default_graph_as_union"] = True
        if named_graphs:
            kwargs["named_graphs"] = [ox.NamedNode(g) for g in named_graphs]
        try:
            result = self._ox.query(sparql, **kwargs)
        except SyntaxError as e:
            raise SparqlError(f"SPARQL syntax error: {syntax_message(e.msg, sparql, prefixes)}") from None
        except (ValueError, OSError) as e:
            raise SparqlError(f"SPARQL query failed: {e}") from None
        if isinstance(result, ox.QueryTriples):
            return list(result)
        return result

    def insert(self, quads):
        with self._write_lock:
            new = [q for q in dict.fromkeys(quads) if q not in self._ox]
            if new:
                self._ox.extend(new)  # one transaction
            return len(new)

    def update(self, sparql_update, prefixes=None):
        with self._write_lock:
            try:
                self._ox.update(sparql_update, prefixes=prefixes or None)
            except SyntaxError as e:
                raise SparqlError(f"SPARQL update syntax error: {syntax_message(e.msg, sparql_update, prefixes)}") \
                    from None
            except (RuntimeError, ValueError, OSError) as e:  # e.g. DROP GRAPH of a graph that does not exist
                raise SparqlError(f"SPARQL update failed, nothing was changed: {e}") from None

    def count(self):
        return len(self._ox)

    def dump(self):
        return self._ox.dump(format=ox.RdfFormat.N_QUADS)

    def rewritten_literals(self, literals):
        # Oxigraph encodes numbers, booleans and dates by value (upstream issue 526): what comes back is
        # the canonical form, sometimes of another datatype. Ask a scratch store what it keeps.
        typed = [lit for lit in dict.fromkeys(literals)
                 if lit.language is None and lit.datatype.value not in _KEPT_DATATYPES]
        if not typed:
            return {}
        scratch = ox.Store()
        subject = ox.NamedNode("urn:kgrel:scratch")
        scratch.extend(ox.Quad(subject, ox.NamedNode(f"urn:kgrel:scratch:{i}"), lit) for i, lit in enumerate(typed))
        rewritten = {}
        for quad in scratch:
            given = typed[int(quad.predicate.value.rsplit(":", 1)[1])]
            if quad.object != given:
                rewritten[given] = quad.object
        return rewritten

    def close(self):
        if getattr(self, "_ox", None) is not None:
            self._ox.flush()
            del self._ox
            self._ox = None

    @property
    def description(self):
        return f"oxigraph:{self.path}" if self.path else "oxigraph:memory"

    @property
    def dataset(self):
        if self._dataset is None:
            from oxrdflib import OxigraphStore
            from rdflib import Dataset

            self._dataset = Dataset(store=OxigraphStore(store=self._ox), default_union=True)
        return self._dataset


class SparqlEndpointStore(KnowledgeStore):
    """A remote SPARQL 1.1 endpoint (query + update); each write is one update request, atomic on the server."""

    shared = True

    def __init__(self, query_url: str, update_url: str | None = None, timeout_s: float = 60.0,
                 engine: str = "sparql11"):
        if engine not in DIALECTS:
            raise StoreUnavailable(f"unknown store engine {engine!r}; use one of " + ", ".join(DIALECTS))
        self.dialect = DIALECTS[engine]
        self.query_url = query_url
        self.update_url = update_url or self.dialect.update_url(query_url)
        self._http = httpx.Client(timeout=timeout_s)
        self._write_lock = threading.Lock()
        self._dataset = None

    def _post(self, url: str, **kwargs) -> httpx.Response:
        try:
            response = self._http.post(url, **kwargs)
        except httpx.HTTPError as e:
            raise StoreUnavailable(f"SPARQL endpoint {url} unreachable: {e}") from None
        if response.status_code == 400:
            raise SparqlError(f"the SPARQL endpoint refused the request: {response.text.strip()[:500]}")
        if response.status_code >= 300:
            raise StoreUnavailable(f"SPARQL endpoint {url} answered {response.status_code}: {response.text[:300]}")
        return response

    def query(self, sparql, *, default_graphs=None, named_graphs=None, prefixes=None):
        accept = self.dialect.accept(sparql)
        form: dict[str, Any] = {"query": _with_prefixes(sparql, prefixes)}
        if default_graphs:
            form["default-graph-uri"] = list(default_graphs)
        if named_graphs:
            form["named-graph-uri"] = list(named_graphs)
        response = self._post(self.query_url, data=form, headers={"Accept": accept})
        media = response.headers.get("content-type", "").split(";")[0].strip()
        if media in ("application/n-triples", "text/plain"):
            return [q.triple for q in ox.parse(response.content, format=ox.RdfFormat.N_TRIPLES)]
        if media == "application/sparql-results+json":
            return ox.parse_query_results(self.dialect.solutions(response.content), format=ox.QueryResultsFormat.JSON)
        raise StoreUnavailable(f"SPARQL endpoint answered with unexpected media type {media!r}")

    def default_pattern(self, pattern):
        graph = self.dialect.default_graph
        return pattern if graph is None else f"GRAPH <{graph}> {{ {pattern} }}"

    def insert(self, quads):
        graph = self.dialect.default_graph
        if graph is not None:  # this engine keeps the default graph's triples in a named graph
            target = ox.NamedNode(graph)
            quads = [ox.Quad(q.subject, q.predicate, q.object, target) if isinstance(q.graph_name, ox.DefaultGraph)
                     else q for q in quads]
        with self._write_lock:
            new = self._not_present(list(dict.fromkeys(quads)))
            for start in range(0, len(new), 20000):  # one request per chunk keeps bodies reasonable
                self.update(insert_data(new[start:start + 20000]))
            return len(new)

    def _not_present(self, quads: list[ox.Quad], chunk: int = 500) -> list[ox.Quad]:
        """The quads the endpoint does not hold yet. Parsed blank nodes are fresh, so always new."""
        present: set[int] = set()
        checkable = [(i, q) for i, q in enumerate(quads)
                     if not any(isinstance(t, ox.BlankNode | ox.Triple) for t in (q.subject, q.object))]
        for named in (False, True):
            group = [(i, q) for i, q in checkable if isinstance(q.graph_name, ox.DefaultGraph) != named]
            for start in range(0, len(group), chunk):
                part = group[start:start + chunk]
                if named:
                    rows = " ".join(f"({i} {q.subject} {q.predicate} {q.object} {q.graph_name})" for i, q in part)
                    where = f"VALUES (?i ?s ?p ?o ?g) {{ {rows} }} GRAPH ?g {{ ?s ?p ?o }}"
                else:
                    rows = " ".join(f"({i} {q.subject} {q.predicate} {q.object})" for i, q in part)
                    where = f"VALUES (?i ?s ?p ?o) {{ {rows} }} ?s ?p ?o"
                present.update(int(r["i"].value) for r in self.select(f"SELECT DISTINCT ?i WHERE {{ {where} }}"))
        return [q for i, q in enumerate(quads) if i not in present]

    def update(self, sparql_update, prefixes=None):
        self._post(self.update_url, content=_with_prefixes(sparql_update, prefixes).encode("utf-8"),
                   headers={"Content-Type": "application/sparql-update"})

    def count(self):
        rows = self.select(_COUNT_QUADS)
        return int(rows[0]["n"].value) if rows else 0

    def close(self):
        self._http.close()

    @property
    def description(self):
        return f"sparql:{self.query_url}"

    @property
    def dataset(self):
        if self._dataset is None:
            from rdflib import Dataset
            from rdflib.plugins.stores.sparqlstore import SPARQLUpdateStore

            self._dataset = Dataset(store=SPARQLUpdateStore(self.query_url, self.update_url), default_union=True)
        return self._dataset


def open_store(location: str | Path | None, update_url: str | None = None,
               engine: str = "sparql11") -> KnowledgeStore:
    """An http(s) URL opens a remote endpoint (`engine` names its dialect, `kg.dialects`); a path opens
    (or creates) an embedded store; None: in memory."""
    if location is None:
        return EmbeddedStore(None)
    text = str(location)
    if text.startswith(("http://", "https://")):
        return SparqlEndpointStore(text, update_url, engine=engine)
    return EmbeddedStore(Path(text))


def _graph_node(iri: str) -> ox.NamedNode | ox.DefaultGraph:
    return ox.DefaultGraph() if iri in ("", "default") else ox.NamedNode(iri)


def _with_prefixes(text: str, prefixes: dict[str, str] | None) -> str:
    """A query or update with PREFIX declarations put before it (an endpoint knows no prefixes of ours)."""
    return "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in (prefixes or {}).items()) + text


def insert_data(quads: Sequence[ox.Quad]) -> str:
    """One INSERT DATA request for quads of any graphs (N-Triples term syntax is valid SPARQL)."""
    by_graph: dict[str, list[str]] = {}
    for q in quads:
        key = "" if isinstance(q.graph_name, ox.DefaultGraph) else str(q.graph_name)
        by_graph.setdefault(key, []).append(f"{q.subject} {q.predicate} {q.object} .")
    parts = []
    for graph, lines in by_graph.items():
        body = "\n".join(lines)
        parts.append(body if not graph else f"GRAPH {graph} {{\n{body}\n}}")
    return "INSERT DATA {\n" + "\n".join(parts) + "\n}"
