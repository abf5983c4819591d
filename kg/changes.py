"""What a write to the graph changes, so that what is built from the graph is rebuilt only when needed.

Three aspects, from the most to the least urgent for the user who just wrote:

    relations   a relation's side information, algebra or examples: the prototypes must follow at once
    labels      names of entities: mention linking must follow at once
    facts       anything else: only the relations' observed domain/range (a statistic over all facts)
                can move, and it may follow in the background
"""

from __future__ import annotations

from collections.abc import Iterable

import pyoxigraph as ox

from kgrel.kg.examples import HEAD_PROPERTY, RELATION_PROPERTY, TAIL_PROPERTY
from kgrel.kg.namespaces import EXAMPLES_GRAPH, RDF, RDFS, RELATION_TYPES
from kgrel.kg.ontology import (
    ALIAS_PROPERTIES,
    DESCRIPTION_PROPERTIES,
    DOMAIN_PROPERTIES,
    INVERSE_OF,
    LABEL_PROPERTIES,
    RANGE_PROPERTIES,
    SYMMETRIC,
    OntologyView,
)

RELATIONS, LABELS, FACTS = "relations", "labels", "facts"
ALL = frozenset({RELATIONS, LABELS, FACTS})

_RELATION_PROPERTIES = {*DOMAIN_PROPERTIES, *RANGE_PROPERTIES, INVERSE_OF, RDFS + "subPropertyOf"}
_RELATION_CLASSES = {*RELATION_TYPES, SYMMETRIC}
_NAME_PROPERTIES = {*LABEL_PROPERTIES, *ALIAS_PROPERTIES, RDF + "type", RDFS + "subClassOf"}
_SIDE_INFORMATION = {*LABEL_PROPERTIES, *ALIAS_PROPERTIES, *DESCRIPTION_PROPERTIES}
_TYPE = RDF + "type"
_LABEL = RDFS + "label"
_EXAMPLE_ENTITIES = {HEAD_PROPERTY, TAIL_PROPERTY}


def aspects_changed(ontology: OntologyView, quads: Iterable[ox.Quad]) -> frozenset[str]:
    """The aspects that inserting (or deleting) `quads` changes; call after the write, so that relations
    declared in the same write are known."""
    aspects = {FACTS}
    subjects: set[str] = set()
    for q in quads:
        predicate = q.predicate.value
        in_examples = isinstance(q.graph_name, ox.NamedNode) and q.graph_name.value == EXAMPLES_GRAPH
        declares = predicate in _RELATION_PROPERTIES or (predicate == _TYPE and q.object.value in _RELATION_CLASSES)
        if in_examples or declares:
            aspects.add(RELATIONS)
        if predicate in _NAME_PROPERTIES:
            aspects.add(LABELS)
        if predicate in _SIDE_INFORMATION and isinstance(q.subject, ox.NamedNode):
            subjects.add(q.subject.value)
    if RELATIONS not in aspects and subjects and ontology.relations_among(sorted(subjects)):
        aspects.add(RELATIONS)  # a label, alias or description of an existing relation
    return frozenset(aspects)


def relations_with_new_facts(ontology: OntologyView, quads: Iterable[ox.Quad]) -> frozenset[str] | None:
    """The predicates whose observed domain/range (`OntologyView.argument_classes`) the quads can move;
    None when they can move any relation's: a new rdf:type of an entity, a new label of a class, or an
    example's entity written without its relation (examples count there as facts do)."""
    predicates: set[str] = set()
    labelled: set[str] = set()
    examples_with_relation: set[str] = set()
    examples_with_entity: set[str] = set()
    for q in quads:
        predicate = q.predicate.value
        if isinstance(q.graph_name, ox.NamedNode) and q.graph_name.value == EXAMPLES_GRAPH:
            if predicate == RELATION_PROPERTY:
                predicates.add(q.object.value)
                examples_with_relation.add(q.subject.value)
            elif predicate in _EXAMPLE_ENTITIES:
                examples_with_entity.add(q.subject.value)
            continue  # an example's type, text and offsets move no relation's domain/range
        if predicate == _TYPE:
            return None
        if predicate == _LABEL and isinstance(q.subject, ox.NamedNode):
            labelled.add(q.subject.value)
        predicates.add(predicate)
    if labelled and ontology.classes_among(sorted(labelled)):
        return None
    if examples_with_entity - examples_with_relation:
        return None
    return frozenset(predicates)
