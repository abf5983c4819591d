"""What differs between the SPARQL servers kgrel can use as its store, kept in one place.

`sparql11` is the protocol as written (Oxigraph's server, Apache Jena Fuseki): queries at one URL,
updates at another, and a default graph that is the union of the named graphs (`oxigraph serve
--union-default-graph`, Fuseki's `tdb:unionDefaultGraph`).

`virtuoso` (OpenLink Virtuoso 7): one URL for queries and updates; the default graph already is the
union of all graphs (Virtuoso's own system graphs too: they hold no relations or labels, but the
store's triple count includes them; its `input:*-graph-exclude` pragmas would also hide the graphs a
query names, so they are not used); it keeps no triple outside a named graph, so what goes to the
default graph goes to `urn:kgrel:graph:default`; a
CONSTRUCT asked for JSON comes back as a table, so the query's form picks the Accept header; ASK comes
back as a one-cell table, and typed literals with the SPARQL 1.0 type name `typed-literal`.
"""

from __future__ import annotations

import json
import re

from kgrel.kg.sparql_text import masked

_FORM = re.compile(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", re.I)
_JSON_RESULTS = "application/sparql-results+json"
_GRAPH_RESULTS = "application/n-triples"


class Dialect:
    name = "sparql11"

    def update_url(self, query_url: str) -> str:
        # Oxigraph serves /query and /update; Fuseki /ds/query (or /ds/sparql) and /ds/update.
        for suffix in ("/query", "/sparql"):
            if query_url.endswith(suffix):
                return query_url[: -len(suffix)] + "/update"
        return query_url

    # The graph that stands for the default graph in writes; None: the store's own default graph.
    default_graph: str | None = None

    def accept(self, sparql: str) -> str:
        return f"{_JSON_RESULTS}, {_GRAPH_RESULTS};q=0.9"

    def solutions(self, body: bytes) -> bytes:
        return body


class Virtuoso(Dialect):
    name = "virtuoso"
    default_graph = "urn:kgrel:graph:default"  # Virtuoso keeps no triple outside a named graph

    def update_url(self, query_url: str) -> str:
        return query_url

    def accept(self, sparql: str) -> str:
        form = _FORM.search(masked(sparql))
        if form is not None and form.group(1).upper() in ("CONSTRUCT", "DESCRIBE"):
            return _GRAPH_RESULTS
        return _JSON_RESULTS

    def solutions(self, body: bytes) -> bytes:
        results = json.loads(body)
        variables = results.get("head", {}).get("vars", [])
        bindings = results.get("results", {}).get("bindings", [])
        if variables == ["__ASK_RETVAL"]:
            answer = bool(bindings) and bindings[0]["__ASK_RETVAL"]["value"] in ("1", "true")
            return json.dumps({"head": {}, "boolean": answer}).encode()
        for row in bindings:
            for term in row.values():
                if term.get("type") == "typed-literal":
                    term["type"] = "literal"
        return json.dumps({"head": {"vars": variables}, "results": {"bindings": bindings}}).encode()


DIALECTS: dict[str, Dialect] = {"sparql11": Dialect(), "oxigraph": Dialect(), "fuseki": Dialect(),
                                "virtuoso": Virtuoso()}
