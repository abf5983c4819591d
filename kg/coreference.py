"""The usual ways a text refers back to an entity it has named in full.

"Wilfried Schneider ... Schneider won", "the Federal Bureau of Investigation (FBI) ... the FBI": once a
document names a linked entity in full, a later bare surname, first word or acronym of that name is a
mention of it too, when nothing else in the document could be meant. Pronouns are not resolved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Words that open or close many names without naming anything on their own.
GENERIC = {
    "the", "a", "an", "of", "and", "university", "college", "school", "church", "river", "lake", "mount", "city",
    "county", "state", "states", "kingdom", "republic", "company", "corporation", "inc", "ltd", "group", "party",
    "national", "international", "united", "new", "north", "south", "east", "west", "saint", "st", "world", "cup",
    "championship", "championships", "games", "league", "club", "association", "society", "museum", "award",
    "prize", "war", "battle", "station", "airport", "province", "district", "island", "islands", "house",
    "department", "ministry", "council", "army", "navy", "force", "records", "film", "festival", "series",
    "jr", "sr", "de", "van", "von", "der", "la", "le", "el", "da", "di", "du", "del",
}
_WORD = re.compile(r"[^\W_][\w'’.-]*", re.UNICODE)


@dataclass(frozen=True)
class NamedSpan:
    """A mention already linked: [start, end) in the document, its text and its entity."""

    start: int
    end: int
    text: str
    entity: str


def short_forms(name: str) -> set[str]:
    """Shorter ways to refer back to a name of several words: its last word (a surname), its first word,
    and its acronym; each at least three characters, capitalised and not a generic word."""
    words = [w.strip(".,") for w in _WORD.findall(name)]
    words = [w for w in words if w]
    if len(words) < 2:
        return set()
    forms = set()
    for w in (words[-1], words[0]):
        if len(w) >= 3 and w[0].isupper() and w.lower() not in GENERIC and not w.isdigit():
            forms.add(w)
    capitals = [w[0] for w in words if w[0].isupper() and w.lower() not in {"of", "the", "and"}]
    if len(capitals) >= 3 and len(capitals) == sum(1 for w in words if w.lower() not in {"of", "the", "and"}):
        forms.add("".join(capitals))
    return forms


def refer_back(text: str, named: Sequence[NamedSpan]) -> list[NamedSpan]:
    """Further mentions of the entities in `named`: whole-word occurrences of a short form of one of their
    names, outside every mention already there, where exactly one entity has that short form and it is
    not itself the full name of another entity in the document."""
    full_names = {m.text for m in named}
    owners: dict[str, set[str]] = {}
    for m in named:
        for form in short_forms(m.text):
            owners.setdefault(form, set()).add(m.entity)
    taken = sorted((m.start, m.end) for m in named)
    found: list[NamedSpan] = []
    for form, entities in sorted(owners.items()):
        if len(entities) != 1 or form in full_names:
            continue
        entity = next(iter(entities))
        for match in re.finditer(rf"(?<![\w-]){re.escape(form)}(?![\w-])", text):
            start, end = match.span()
            if any(start < b and a < end for a, b in taken):
                continue
            found.append(NamedSpan(start, end, form, entity))
            taken.append((start, end))
    return sorted(found, key=lambda m: m.start)
