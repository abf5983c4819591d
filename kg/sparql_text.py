"""SPARQL text seen lexically: strings, IRIs and comments masked, so that keywords and braces can be
found without a full parser. Every character keeps its position, so a match maps back to the text."""

from __future__ import annotations

import re

LEXICAL = re.compile(r'''"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^'\\]|\\.|'(?!''))*\'\'\'|"(?:[^"\\\n]|\\.)*"'''
                      r'''|'(?:[^'\\\n]|\\.)*'|<[^<>"{}|^`\\\s]*>|\#[^\n]*''', re.S)


def keyword(word: str) -> str:
    """A regular expression for a SPARQL keyword: not part of a variable, prefixed name or longer word."""
    return rf"(?<![\w?$:.-]){word}(?![\w:.-])"


def masked(text: str) -> str:
    """The text with strings, IRIs and comments blanked out, every character at its place."""
    def blank(match: re.Match) -> str:
        token = match.group(0)
        if token.startswith("#"):
            return " " * len(token)
        return token[0] + "_" * (len(token) - 2) + token[-1]

    return LEXICAL.sub(blank, text)


_POSITION = re.compile(r"error at (\d+):(\d+)")
_PREFIXED = re.compile(r"([A-Za-z][\w.-]*)?:[\w.-]*")


def syntax_message(error: str, text: str, prefixes: dict[str, str] | None) -> str:
    """A parser's error made readable: an unknown prefix is named, with the known ones, instead of the
    list of every character the parser could have taken; other long messages are cut."""
    position = _POSITION.search(error)
    if "Prefix not found" in error and position:
        line, column = int(position.group(1)), int(position.group(2))
        lines = text.splitlines()
        before = lines[line - 1][: column - 1] if 0 < line <= len(lines) else ""
        found = [m.group(1) or "" for m in _PREFIXED.finditer(before)]
        name = found[-1] if found else "?"
        known = ", ".join(sorted(prefixes or {})) or "none"
        return (f"unknown prefix {name!r} at line {line}, column {column}; known prefixes: {known} "
                f"(or declare it: PREFIX {name}: <http://...>)")
    return error if len(error) <= 300 else error[:300].rstrip() + " …"
