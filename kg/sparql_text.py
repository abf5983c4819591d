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
