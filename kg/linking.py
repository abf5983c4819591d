"""Entity linking against the graph's labels: exact-label lookup and a dictionary matcher over raw text.

Labels (rdfs:label, skos:prefLabel, schema:name) and aliases (skos:altLabel) are compared in one
normal form: the sequence of word tokens after NFKD, accent stripping and case folding, so
"Jay-Z", "jay z" and "JAY-Z." are the same name and punctuation inside or around a name does not
matter. The matcher scans text left to right and takes the longest name at each position
("New York Times" before "New York"), so found mentions never overlap.

Names the graph does not carry exactly can still be linked by spelling: a run of capitalised words
that no name covers is compared with the graph's names (character trigrams to find candidates,
difflib's ratio to score them), and linked when it is close enough ("Tchaikowsky", "Mozzart").
Such a link says how it was made and how close the spelling was, so a curator can see it is a guess.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from kgrel.kg.namespaces import OWL, RDF, RDFS
from kgrel.kg.ontology import ALIAS_PROPERTIES, LABEL_PROPERTIES
from kgrel.kg.store import KnowledgeStore

_WORD = re.compile(r"\w+", re.UNICODE)
SCHEMA_TYPES = (OWL + "ObjectProperty", OWL + "DatatypeProperty", RDF + "Property", OWL + "Class", RDFS + "Class")
# One-word names this common would turn every sentence into a field of false mentions.
STOPWORDS = {"a", "an", "the", "of", "in", "on", "at", "to", "and", "or", "is", "it", "he", "she", "they", "we",
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


# How a mention came to name its entity.
BY_NAME = "name"  # a label or alias, exactly (after folding)
BY_SPELLING = "spelling"  # the closest name in spelling
BY_CONTEXT = "context"  # one of several entities with the name, chosen by the sentence and document
BY_HAND = "hand"  # given with the text
BY_REFERENCE = "reference"  # a later short form (surname, acronym) of a name linked earlier in the document

# A close spelling is often another name altogether ("Portland" / "Poland", "Roman" / "Oman"), so
# linking by spelling is kept to long names, a high ratio and the same first letter (typos seldom
# touch it); bench/linking_quality.py measures what these settings give.
FUZZY_CUTOFF = 0.88  # difflib ratio below which a spelling is not taken for a name
FUZZY_TIE = 0.02  # names this close to the best spelling are candidates as well
_MIN_FUZZY_CHARS = 6  # shorter words in the text are too easily a different word
_MIN_FUZZY_NAME = 4  # names as short as this can still be misspelt at length ("Gabbon")
_MIN_DICE = 0.45  # trigram overlap below which no spelling reaches FUZZY_CUTOFF in practice


@dataclass
class FoundMention:
    start: int
    end: int
    text: str
    entities: list[str] = field(default_factory=list)  # candidates: several when the name is ambiguous
    how: str = BY_NAME
    score: float = 1.0  # closeness of the spelling to the entity's name (1 for an exact name)
    chosen: str | None = None  # the candidate the context singled out

    @property
    def entity(self) -> str | None:
        """The entity named, when exactly one is (or the context chose one): otherwise left unlinked, not guessed."""
        if self.chosen is not None:
            return self.chosen
        return self.entities[0] if len(self.entities) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return self.entity is None and len(self.entities) > 1

    @property
    def link(self) -> tuple[str | None, float | None]:
        """How the mention was linked and, for a link by spelling, how close the spelling was; (None, None)
        when it is not linked."""
        if self.entity is None:
            return None, None
        return self.how, (self.score if self.how == BY_SPELLING else None)

    def choose(self, entity: str) -> None:
        self.chosen, self.how = entity, BY_CONTEXT


def _trigrams(name: str) -> set[str]:
    padded = f" {name} "
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


class LabelIndex:
    """Name key -> entity IRIs carrying that label or alias, with a token trie for matching in text.

    Relations and classes are left out (they are described by labels, not named in sentences).
    """

    def __init__(self, names: dict[tuple[str, ...], list[str]]):
        self.names = names
        # (first letter, words, trigram) -> names, built on first use of spelling
        self._grams: dict[tuple[str, int, str], list[tuple[str, ...]]] | None = None
        self._gram_counts: dict[tuple[str, ...], int] = {}
        self._trie: dict = {}
        for key in names:
            if not key or (len(key) == 1 and (key[0] in STOPWORDS or len(key[0]) < 2)):
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
        # Close in spelling means a typo or two, not a shared stretch of letters ("medias" is not "comedian").
        for name in difflib.get_close_matches(wanted, list(joined), n=limit * 2, cutoff=0.8):
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

    def spelled_like(self, mention: str, limit: int = 10) -> list[tuple[tuple[str, ...], float]]:
        """Names whose spelling is close to the mention (ratio >= FUZZY_CUTOFF), closest first: trigram
        overlap finds candidates among all names, difflib's ratio scores the best of them."""
        words = name_key(mention)
        wanted = " ".join(words)
        if len(wanted) < _MIN_FUZZY_CHARS:
            return []
        if self._grams is None:  # built whole, then published: a request in another thread never sees half
            index: dict[tuple[str, int, str], list[tuple[str, ...]]] = {}
            counts: dict[tuple[str, ...], int] = {}
            for key in self.names:
                joined = " ".join(key)
                if len(joined) >= _MIN_FUZZY_NAME:
                    grams = _trigrams(joined)
                    counts[key] = len(grams)
                    for gram in grams:  # by first letter and word count: only such names are compared
                        index.setdefault((joined[0], len(key), gram), []).append(key)
            self._gram_counts, self._grams = counts, index
        query = _trigrams(wanted)
        # Same first letter (typos seldom touch it, a different one is usually another word) and the
        # same number of words (a word more or less is another name: "World War" is not "World War I").
        shared = Counter(key for gram in query for key in self._grams.get((wanted[0], len(words), gram), ()))
        # Dice over trigrams is a cheap bound: only the names sharing most trigrams get difflib's ratio.
        dice = {key: 2 * n / (len(query) + self._gram_counts[key]) for key, n in shared.items()}
        likely = sorted((k for k, d in dice.items() if d >= _MIN_DICE), key=dice.__getitem__, reverse=True)[:limit]
        scored = [(key, difflib.SequenceMatcher(None, wanted, " ".join(key)).ratio())
                  for key in likely if _respelt(words, key)]
        return sorted(((k, r) for k, r in scored if r >= FUZZY_CUTOFF), key=lambda kr: (-kr[1], kr[0]))

    def find(self, text: str, start: int = 0, end: int | None = None, fuzzy: bool = True) -> list[FoundMention]:
        """Mentions of known names in text[start:end], leftmost-longest, non-overlapping, with absolute
        offsets; with `fuzzy`, capitalised words no name covers are linked by spelling when close enough."""
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
        if fuzzy:
            found = sorted(self._with_spelling(text, tokens, found), key=lambda m: m.start)
        return found

    def _with_spelling(self, text: str, tokens, exact: list[FoundMention]) -> list[FoundMention]:
        """The exact mentions plus names found by spelling in runs of capitalised words.

        A run an exact name reaches beyond is part of a longer name and left alone. Otherwise the run's
        stretches of words are compared, longest first: a stretch that matches a name replaces the exact
        names inside it ("Boxer Jeff Mayewather" holds Jeff Mayweather, not a Jeff), and it must hold a
        word no exact name covers. A single word is compared only when it is long (_MIN_FUZZY_CHARS)."""
        found = list(exact)
        for run in _capitalised_runs(text, tokens):
            s, e = run[0][0], run[-1][1]
            inside = [m for m in exact if s <= m.start and m.end <= e]
            if any(m.start < e and s < m.end for m in exact if m not in inside):
                continue
            taken: list[FoundMention] = []  # stretches matched so far in this run
            for i, j in _stretches(len(run)):
                start, end = run[i][0], run[j - 1][1]
                if j - i == 1 and end - start < _MIN_FUZZY_CHARS:
                    continue
                if any(m.start < end and start < m.end for m in taken):
                    continue
                covered = [m for m in inside if m.start < end and start < m.end]
                if any(m.start < start or m.end > end for m in covered):
                    continue  # would cut an exact name in two
                if all(any(m.start <= w[0] and w[1] <= m.end for m in covered) for w in run[i:j]):
                    continue  # nothing new: every word is in an exact name
                m = self._spelled_mention(text, start, end)
                if m is not None:
                    taken.append(m)
                    found = [x for x in found if x not in covered]
            found += taken
        return found

    def _spelled_mention(self, text: str, start: int, end: int) -> FoundMention | None:
        close = self.spelled_like(text[start:end])
        if not close:
            return None
        best = close[0][1]
        entities = sorted({iri for key, r in close if r >= best - FUZZY_TIE for iri in self.names[key]})
        return FoundMention(start, end, text[start:end], entities, how=BY_SPELLING, score=round(best, 3))


def _respelt(words: tuple[str, ...], name: tuple[str, ...]) -> bool:
    """Whether the words differing from the name's are long words spelt otherwise, not short or numbered
    words that make it another name ("World War II" / "World War I", "1998" / "1999")."""
    return all(a == b or (min(len(a), len(b)) >= 4 and not any(c.isdigit() for c in a + b))
               for a, b in zip(words, name, strict=True))


_MAX_STRETCH = 6  # words: longer runs are compared in stretches of at most this many


def _stretches(n: int) -> list[tuple[int, int]]:
    """[i, j) word ranges of a run of n words, longest first, left to right."""
    return [(i, i + size) for size in range(min(n, _MAX_STRETCH), 0, -1) for i in range(n - size + 1)]


def _capitalised_runs(text: str, tokens) -> list[list[tuple[int, int]]]:
    """Maximal runs of capitalised words (joined by spaces or hyphens), leading function words ("The",
    "In") dropped: the shapes of names a dictionary match may have missed."""
    runs, current = [], []
    for s, e, pieces in tokens:
        capital = text[s].isupper() and not (not current and pieces and pieces[0] in STOPWORDS)
        joined = current and re.fullmatch(r"[ \t-]+", text[current[-1][1]:s])
        if capital and (not current or joined):
            current.append((s, e))
            continue
        if current:
            runs.append(current)
        current = [(s, e)] if capital else []
    if current:
        runs.append(current)
    return runs
