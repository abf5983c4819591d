"""Choosing among entities that share a name, by what the graph knows of each and what the text says.

A name several entities carry (or a spelling close to several names) is resolved only when the
context singles one candidate out:
- neighbours: the candidate has facts with entities linked elsewhere in the same document
  ("Aida ... Verdi" picks the opera whose composer is Verdi);
- classes: words of the candidate's class labels, up the rdfs:subClassOf chain, occur in the sentence
  ("the soprano Aida" picks the singer when the singer's class is "soprano").
A neighbour counts more than a class word. A tie, or no evidence at all, leaves the mention unlinked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kgrel.kg.linking import STOPWORDS, FoundMention, LabelIndex, name_key
from kgrel.kg.namespaces import RDF, RDFS
from kgrel.kg.ontology import LABEL_PROPERTIES, iri_values
from kgrel.kg.store import KnowledgeStore

NEIGHBOUR_WEIGHT = 2.0  # a fact with an entity of the document says more than a word of a class label
CLASS_WORD_WEIGHT = 1.0


@dataclass
class CandidateContext:
    class_words: set[str] = field(default_factory=set)
    neighbours: set[str] = field(default_factory=set)  # among the document's linked entities


def _word(token: str) -> str:
    """Compare words without a plural s ("operas" is "opera")."""
    return token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token


def words_of(text: str) -> set[str]:
    return {_word(t) for t in name_key(text) if t not in STOPWORDS and len(t) > 2}


def candidate_contexts(store: KnowledgeStore, candidates: set[str], linked: set[str]) -> dict[str, CandidateContext]:
    """Class words and neighbours among `linked` for each candidate: two queries, however many candidates."""
    out = {c: CandidateContext() for c in candidates}
    if not candidates:
        return out
    labels, entities = iri_values(LABEL_PROPERTIES), iri_values(candidates)
    rows = store.select(
        # The classes first, in a subquery: joined the other way round, the store scans every label.
        f"SELECT DISTINCT ?e ?l WHERE {{ {{ SELECT DISTINCT ?e ?c WHERE {{ VALUES ?e {{ {entities} }} "
        f"?e <{RDF}type>/<{RDFS}subClassOf>* ?c }} }} VALUES ?p {{ {labels} }} ?c ?p ?l }}")
    for row in rows:
        out[row["e"].value].class_words |= words_of(row["l"].value)
    others = linked - candidates
    if others:
        rows = store.select(
            f"SELECT DISTINCT ?e ?n WHERE {{ VALUES ?e {{ {entities} }} VALUES ?n {{ {iri_values(others)} }} "
            f"{{ ?e ?p ?n }} UNION {{ ?n ?p ?e }} }}")
        for row in rows:
            out[row["e"].value].neighbours.add(row["n"].value)
    return out


def evidence(context: CandidateContext, sentence_words: set[str], linked: set[str]) -> float:
    return (NEIGHBOUR_WEIGHT * len(context.neighbours & linked)
            + CLASS_WORD_WEIGHT * len(context.class_words & sentence_words))


def resolve(store: KnowledgeStore, sentences: list[tuple[str, list[FoundMention]]]) -> None:
    """Choose, in place, the entity of each mention with several candidates when one document's context
    (its sentences and their found mentions) singles one out."""
    open_mentions = [(text, m) for text, found in sentences for m in found if m.ambiguous]
    if not open_mentions:
        return
    linked = {m.entity for _, found in sentences for m in found if m.entity is not None}
    candidates = {iri for _, m in open_mentions for iri in m.entities}
    contexts = candidate_contexts(store, candidates, linked)
    for text, m in open_mentions:
        words = words_of(text) - words_of(m.text)
        scored = sorted(((evidence(contexts[c], words, linked - {c}), c) for c in m.entities), reverse=True)
        (best, entity), (runner_up, _) = scored[0], scored[1]
        if best > 0 and best > runner_up:
            m.choose(entity)


def link_sentences(store: KnowledgeStore, index: LabelIndex, sentences: list[str], max_mentions: int | None = None,
                   exact_only: bool = False) -> list[list[FoundMention]]:
    """The mentions of one document's sentences: found by name or spelling, resolved by the document's
    context (`exact_only`: by exact names alone, as before spelling and context were used)."""
    found = [index.find(text, fuzzy=not exact_only)[:max_mentions] for text in sentences]
    if not exact_only:
        resolve(store, list(zip(sentences, found, strict=True)))
    return found
