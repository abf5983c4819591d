"""Sentence splitting and word tokenisation that keep character offsets.

A small rule-based splitter rather than a library: what kgrel needs from it is exact character
offsets into the user's text (mentions, provenance and highlighting all point into the original
string), no model download at run time, and behaviour we can pin down with tests. It splits after
., ! or ? (with closing quotes or brackets) when whitespace and an uppercase letter, digit, quote or
bracket follow, and never after a known abbreviation, an initial ("J. R. R. Tolkien") or a dotted
acronym ("U.S."); blank lines always end a sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "gen", "col", "lt", "sgt", "capt", "cpt",
    "gov", "sen", "rep", "rev", "hon", "pres", "vs", "etc", "e.g", "i.e", "cf", "al", "approx", "no", "nos",
    "vol", "fig", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "u.s", "u.k", "u.n", "a.m", "p.m", "ph.d", "b.a", "m.a", "d.c",
}
_BOUNDARY = re.compile(r"""[.!?]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9À-ÖØ-Þ])|\n\s*\n""")
_WORD_BEFORE = re.compile(r"([\w.]+)\s*$")
_TOKEN = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the '.' at `dot` ends an abbreviation, an initial or a dotted acronym."""
    match = _WORD_BEFORE.search(text[:dot])
    if not match:
        return False
    word = match.group(1).lower().rstrip(".")
    if word in ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # an initial: "J. Smith"
        return True
    return bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))  # "u.s.a"


def split_sentences(text: str) -> list[Span]:
    """Sentences of `text` with their [start, end) offsets; surrounding whitespace is not included."""
    spans, start = [], 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        single_dot = match.group().rstrip("\"'”’)]") == "."
        if single_dot and _is_abbreviation(text, match.start()):
            continue
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        chunk = text[s:e]
        lead = len(chunk) - len(chunk.lstrip())
        trail = len(chunk.rstrip())
        if trail > lead:
            out.append(Span(s + lead, s + trail, text[s + lead:s + trail]))
    return out


def tokenize(text: str) -> list[Span]:
    """Word tokens (letters and digits, with inner hyphens/apostrophes) and single punctuation marks."""
    return [Span(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
