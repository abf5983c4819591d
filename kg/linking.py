"""Entity linking against the graph's labels: exact-label lookup and a dictionary matcher over raw text.

Labels (rdfs:label, skos:prefLabel, schema:name) and aliases (skos:altLabel) are compared in one
normal form: the sequence of word tokens after NFKD, accent stripping and case folding, so
"Jay-Z", "jay z" and "JAY-Z." are the same name and punctuation inside or around a name does not
matter. The matcher scans text left to right and takes the longest name at each position
("New York Times" before "New York"), so found mentions never overlap.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field

from kgrel.kg.namespaces import OWL, RDF, RDFS
from kgrel.kg.ontology import ALIAS_PROPERTIES, LABEL_PROPERTIES
from kgrel.kg.store import KnowledgeStore

_WORD = re.compile(r"\w+", re.UNICODE)
SCHEMA_TYPES = (OWL + "ObjectProperty", OWL + "DatatypeProperty", RDF + "Property", OWL + "Class", RDFS + "Class")
# One-word names this common would turn every sentence into a field of false mentions.
_STOPWORDS = {"a", "an", "the", "of", "in", "on", "at", "to", "and", "or", "is", "it", "he", "she", "they", "we",
              "i", "you", "this", "that", "for", "by", "with", "as", "be", "was", "are", "from", "his", "her"}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_key(text: str) -> tuple[str, ...]:
    """The normal form names are compared in: folded word tokens."""
    return tuple(_WORD.findall(_fold(text)))


def normalize_label(text: str) -> str:
    """The normal form as a string (for display and tests)."""
    return " ".join(name_key(text))


@dataclass
class FoundMention:
    start: int
    end: int
    text: str
    entities: list[str] = field(default_factory=list)  # several when the name is ambiguous

    @property
    def entity(self) -> str | None:
        """The entity named, when exactly one is: an ambiguous name is left unlinked, not guessed."""
        return self.entities[0] if len(self.entities) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.entities) > 1


class LabelIndex:
    """Name key -> entity IRIs carrying that label or alias, with a token trie for matching in text.

    Relations and classes are left out (they are described by labels, not named in sentences).
    """

    def __init__(self, names: dict[tuple[str, ...], list[str]]):
        self.names = names
        self._trie: dict = {}
        for key in names:
            if not key or (len(key) == 1 and (key[0] in _STOPWORDS or len(key[0]) < 2)):
                continue
            node = self._trie
            for token in key:
                node = node.setdefault(token, {})
            node[None] = key  # terminal marker

    @classmethod
    def build(cls, store: KnowledgeStore) -> LabelIndex:
        props = " ".join(f"<{p}>" for p in LABEL_PROPERTIES + ALIAS_PROPERTIES)
        schema_types = " ".join(f"<{t}>" for t in SCHEMA_TYPES)
        # Entities only: relations and classes have labels too, but they are not what mentions name.
        rows = store.select(
            f"SELECT ?e ?l WHERE {{ VALUES ?p {{ {props} }} ?e ?p ?l FILTER(isIRI(?e)) "
            f"FILTER NOT EXISTS {{ VALUES ?t {{ {schema_types} }} ?e a ?t }} "
            f"FILTER NOT EXISTS {{ ?x a ?e }} FILTER NOT EXISTS {{ ?e <{RDFS}subClassOf> ?y }} }}")
        names: dict[tuple[str, ...], list[str]] = {}
        for row in rows:
            key = name_key(row["l"].value)
            if key:
                entities = names.setdefault(key, [])
                if row["e"].value not in entities:
                    entities.append(row["e"].value)
        for entities in names.values():
            entities.sort()
        return cls(names)

    def __len__(self) -> int:
        return len(self.names)

    def lookup(self, mention: str) -> list[str]:
        """Entities whose label or alias is the mention (several when the name is ambiguous)."""
        return list(self.names.get(name_key(mention), []))

    def search(self, query: str, limit: int = 10) -> list[tuple[str, str, float]]:
        """Entities by name, forgiving of case, accents and typos: (IRI, matching name, score in [0, 1]).
        An exact name scores 1; a name that contains the query, or is close to it in spelling
        (difflib's ratio of the folded names), scores less."""
        wanted = " ".join(name_key(query))
        if not wanted:
            return []
        joined = {" ".join(key): key for key in self.names}
        scored: dict[str, float] = {}
        if wanted in joined:
            scored[wanted] = 1.0
        for name in joined:
            if wanted in name and name not in scored:
                scored[name] = 0.6 + 0.3 * len(wanted) / len(name)  # more of the name matched ranks higher
        for name in difflib.get_close_matches(wanted, list(joined), n=limit * 2, cutoff=0.7):
            ratio = difflib.SequenceMatcher(None, wanted, name).ratio()
            scored[name] = max(scored.get(name, 0.0), 0.9 * ratio)
        out: dict[str, tuple[str, str, float]] = {}  # each entity once, by its best-matching name
        for name, score in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0])):
            for iri in self.names[joined[name]]:
                out.setdefault(iri, (iri, name, round(score, 3)))
        return list(out.values())[:limit]

    def link(self, mention: str) -> str | None:
        """The entity a mention names when exactly one does; ambiguous names stay unlinked."""
        found = self.lookup(mention)
        return found[0] if len(found) == 1 else None

    def find(self, text: str, start: int = 0, end: int | None = None) -> list[FoundMention]:
        """Mentions of known names in text[start:end], leftmost-longest, non-overlapping, with absolute offsets."""
        end = len(text) if end is None else end
        # Fold per token, keeping the original offsets (folding can change lengths).
        tokens = [(m.start() + start, m.end() + start, tuple(_WORD.findall(_fold(m.group()))))
                  for m in re.finditer(r"\w+", text[start:end], re.UNICODE)]
        flat = [(s, e, piece) for s, e, pieces in tokens for piece in pieces]
        found, i = [], 0
        while i < len(flat):
            node, j, best = self._trie, i, None
            while j < len(flat) and flat[j][2] in node:
                node = node[flat[j][2]]
                j += 1
                if None in node:
                    best = (j, node[None])
            if best is None:
                i += 1
                continue
            j, key = best
            s, e = flat[i][0], flat[j - 1][1]
            found.append(FoundMention(s, e, text[s:e], list(self.names[key])))
            i = j
        return found
