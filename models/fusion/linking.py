"""Mentions and entities to what the graph knows of them: linked IRI, hypernyms, embedding vector."""

from __future__ import annotations

from collections.abc import Sequence

from kgrel.kg.linking import LabelIndex
from kgrel.kg.ontology import OntologyView
from kgrel.models.fusion.evidence import Facts, GraphContext, LinkedMention
from kgrel.models.graph.embeddings import KGEmbeddings
from kgrel.models.relation.instances import RelationInstance


def link_contexts(instances: Sequence[RelationInstance], index: LabelIndex, ontology: OntologyView,
                  embeddings: KGEmbeddings | None, facts: Facts | None) -> list[GraphContext]:
    """Link each mention (its given IRI, else an exact label match) and gather its hypernyms and vector."""
    linked = [(x.head.entity or index.link(x.head_text), x.tail.entity or index.link(x.tail_text))
              for x in instances]
    return entity_contexts(linked, ontology, embeddings, facts)


def entity_contexts(pairs: Sequence[tuple[str | None, str | None]], ontology: OntologyView,
                    embeddings: KGEmbeddings | None, facts: Facts | None) -> list[GraphContext]:
    """What the graph knows of each (head, tail) pair of entity IRIs (None: not linked): hypernyms and vectors.

    An entity the embeddings never saw is folded in from `facts(iri)`.
    """
    iris = [i for pair in pairs for i in pair if i]
    hypernyms = ontology.hypernyms(iris) if iris else {}
    vectors = ({i: embeddings.vector(i, facts) for i in dict.fromkeys(iris)} if embeddings is not None else {})

    def mention(iri: str | None) -> LinkedMention:
        if iri is None:
            return LinkedMention()
        return LinkedMention(iri, hypernyms.get(iri, []), vectors.get(iri))

    return [GraphContext(mention(h), mention(t)) for h, t in pairs]


def reversed_contexts(contexts: Sequence[GraphContext] | None) -> list[GraphContext] | None:
    """The graph contexts of the same pairs asked the other way round."""
    return None if contexts is None else [GraphContext(c.tail, c.head) for c in contexts]
