"""Which client queries are cheap enough to run without a child process.

A SELECT or ASK that matches one triple pattern (no join, path, subquery, group, sort or DISTINCT) costs
at most one scan of the store, and memory only for the rows it returns, which the row cap bounds. For
such a query the child costs more than it protects: under load, forking the server took a query from
15 to 87 ms at p50 and doubled `/predict`'s p99 (`bench/load.py`), through the copy-on-write faults the
server takes while a child lives. Anything the reading below does not recognise is not cheap.
"""

from __future__ import annotations

import re

from kgrel.kg.sparql_text import keyword, masked

_PROLOGUE = re.compile(keyword("(?:PREFIX|BASE)") + r"\s*(?:[\w.-]*:)?\s*<_*>", re.I)
_FORM = re.compile(r"^\s*(?:SELECT\b(?P<head>[^{]*?)(?:\bWHERE\b)?|ASK\s*(?:\bWHERE\b)?)\s*\{(?P<body>[^{}]*)\}"
                   r"(?P<tail>[^{}]*)$", re.I | re.S)
_COSTLY = re.compile(keyword("(?:ORDER|GROUP|HAVING|DISTINCT|REDUCED|SERVICE|GRAPH|OPTIONAL|UNION|MINUS|EXISTS"
                             "|VALUES|BIND|FROM|GROUP_CONCAT)"), re.I)
_FILTER = re.compile(keyword("FILTER") + r"\s*[\w:]*\s*\(", re.I)
_TAIL = re.compile(r"^\s*(?:(?:LIMIT|OFFSET)\s+\d+\s*)*$", re.I)
_TERM = re.compile(r"""^(?:[?$]\w+|<_*>|a|[A-Za-z_][\w.-]*:[\w.-]*|:[\w.-]*|"_*"(?:@[\w-]+|\^\^\S+)?"""
                   r"""|'_*'(?:@[\w-]+|\^\^\S+)?|[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false)$""")


def one_scan(query: str) -> bool:
    """True when the query is a SELECT or ASK over a single triple pattern (with FILTERs, LIMIT/OFFSET)."""
    plain = _PROLOGUE.sub(lambda m: " " * len(m.group(0)), masked(query))
    if _COSTLY.search(plain):
        return False
    form = _FORM.match(plain)
    if form is None or not _TAIL.match(form["tail"]):
        return False
    body = _without_filters(form["body"])
    if body is None:
        return False
    terms = body.strip().rstrip(".").split()
    return len(terms) == 3 and all(_TERM.match(t) for t in terms)


def _without_filters(body: str) -> str | None:
    """The group's text with every FILTER(...) removed; None when a parenthesis does not close."""
    while (match := _FILTER.search(body)) is not None:
        depth, end = 1, match.end()
        while depth and end < len(body):
            depth += {"(": 1, ")": -1}.get(body[end], 0)
            end += 1
        if depth:
            return None
        body = body[:match.start()] + " " + body[end:]
    return body
