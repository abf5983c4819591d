"""Bound the time a client's SPARQL Update can take, although the store cannot interrupt it.

An update runs in the server process (a child process must not write to the store), so its WHERE
clauses are first evaluated as queries in a forked child, under the query time and memory limits;
only an update whose WHERE clauses finish there is executed. The clauses are found lexically: strings,
IRIs and comments are masked (keeping every position), then each top-level `WHERE` is followed to its
balanced `{ ... }` group; `WITH` and `USING` give the dataset the clause is matched against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kgrel.kg.sparql_text import keyword, masked

_WHERE = re.compile(keyword("WHERE"), re.I)
_WITH = re.compile(keyword("WITH") + r"\s*(<[^>]*>)", re.I)
_USING = re.compile(keyword("USING") + r"\s*(NAMED\s*)?(<[^>]*>)", re.I)
_PREFIX = re.compile(keyword("(?:PREFIX|BASE)") + r"[^<]*<[^>]*>", re.I)


@dataclass
class WhereClause:
    pattern: str  # "{ ... }", as written
    default_graphs: list[str] = field(default_factory=list)
    named_graphs: list[str] = field(default_factory=list)


def where_clauses(update: str) -> list[WhereClause]:
    """The WHERE clauses of an update's operations (DELETE/INSERT ... WHERE, DELETE WHERE)."""
    plain = masked(update)
    depth, operation_start, clauses = 0, 0, []
    i = 0
    while i < len(plain):
        char = plain[i]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == ";" and depth == 0:
            operation_start = i + 1
        elif depth == 0 and (match := _WHERE.match(plain, i)):
            start = plain.find("{", match.end())
            end = _closing(plain, start) if start >= 0 and not plain[match.end():start].strip() else -1
            if end < 0:  # not a pattern we can read: leave it to the store's parser to refuse
                i = match.end()
                continue
            clause = WhereClause(update[start:end + 1])
            head = plain[operation_start:match.start()]
            for found in _WITH.finditer(head):
                clause.default_graphs = [_iri(update, operation_start, found, 1)]
            using = [(bool(m.group(1)), _iri(update, operation_start, m, 2)) for m in _USING.finditer(head)]
            if using:  # USING replaces WITH's graph as the dataset
                clause.default_graphs = [iri for named, iri in using if not named]
                clause.named_graphs = [iri for named, iri in using if named]
            clauses.append(clause)
            i = end + 1
            continue
        i += 1
    return clauses


def prologue(update: str) -> str:
    """The update's PREFIX and BASE declarations, for the queries made from its clauses."""
    plain = masked(update)
    return "\n".join(update[m.start():m.end()] for m in _PREFIX.finditer(plain))


def _closing(plain: str, start: int) -> int:
    depth = 0
    for j in range(start, len(plain)):
        if plain[j] == "{":
            depth += 1
        elif plain[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _iri(update: str, offset: int, match: re.Match, group: int) -> str:
    start, end = match.span(group)
    return update[offset + start + 1:offset + end - 1]
