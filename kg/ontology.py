"""The ontology view: side information for every relation, labels and hypernyms for an entity.

Records here are plain data; `models` builds prototypes from them without knowing about RDF.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pyoxigraph as ox

from kgrel.kg.examples import HEAD_PROPERTY, RELATION_PROPERTY, TAIL_PROPERTY
from kgrel.kg.namespaces import DCTERMS, EXAMPLES_GRAPH, OWL, RDF, RDFS, RELATION_TYPES, SCHEMA, SKOS, XSD
from kgrel.kg.store import KnowledgeStore

LABEL_PROPERTIES = (RDFS + "label", SKOS + "prefLabel", SCHEMA + "name")
ALIAS_PROPERTIES = (SKOS + "altLabel",)
DESCRIPTION_PROPERTIES = (RDFS + "comment", SCHEMA + "description", SKOS + "definition", DCTERMS + "description")
DOMAIN_PROPERTIES = (RDFS + "domain", SCHEMA + "domainIncludes")
RANGE_PROPERTIES = (RDFS + "range", SCHEMA + "rangeIncludes")
INVERSE_OF = OWL + "inverseOf"
SYMMETRIC = OWL + "SymmetricProperty"
# A relation declared neither symmetric nor with an inverse is read as symmetric when its facts say so:
# at least RECIPROCATED_MIN of them have their reverse stated too, and those are at least RECIPROCATED_SHARE
# of its facts (Wikidata's spouse and sibling facts are stated both ways; "influenced by" 1% of the time).
RECIPROCATED_MIN = 4
RECIPROCATED_SHARE = 0.5
# (?s ?r ?o) stated by a fact or by a labelled example of ?r naming both entities.
STATED = (f"{{ ?s ?r ?o }} UNION {{ GRAPH <{EXAMPLES_GRAPH}> {{ ?example <{RELATION_PROPERTY}> ?r ; "
          f"<{HEAD_PROPERTY}> ?s ; <{TAIL_PROPERTY}> ?o }} }}")
# Vocabulary terms that are rdf:Property in their own ontologies but never relations between entities.
_BUILTIN_NAMESPACES = (RDF, RDFS, OWL, SKOS, XSD)


@dataclass
class RelationInfo:
    """Side information of one relation (GUIDE section 2)."""

    iri: str
    label: str
    aliases: list[str] = field(default_factory=list)
    description: str = ""
    domain: list[str] = field(default_factory=list)  # labels of rdfs:domain classes
    range: list[str] = field(default_factory=list)  # labels of rdfs:range classes
    # Relation algebra: a symmetric relation's fact holds both ways (owl:SymmetricProperty); the
    # reversed pair of a relation with an inverse (owl:inverseOf) is a fact of the inverse; any other
    # relation is asymmetric, and only one direction of a pair can hold.
    symmetric: bool = False
    inverse: str | None = None  # IRI of the inverse relation
    # Not declared symmetric, but its facts in the graph are mostly stated both ways (`reciprocated`).
    observed_symmetric: bool = False

    @property
    def reads_symmetric(self) -> bool:
        """Whether a pair's two directions are one fact: declared so, or so in the graph's facts."""
        return self.symmetric or self.observed_symmetric


@dataclass
class EntityInfo:
    """What the graph knows of one entity: its names and its classes with their superclasses."""

    iri: str
    labels: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)  # IRIs of rdf:type classes
    hypernyms: list[str] = field(default_factory=list)  # labels of those classes and their superclasses


def iri_values(iris: Iterable[str]) -> str:
    """IRIs as the body of a SPARQL VALUES clause."""
    return " ".join(f"<{i}>" for i in iris)


def _lang_ok(term: ox.Literal, lang: str) -> bool:
    tag = (term.language or "").lower()
    return not tag or tag == lang or tag.startswith(lang + "-")


def local_name(iri: str) -> str:
    """The last segment of an IRI, a readable fallback label."""
    for sep in ("#", "/", ":"):
        if sep in iri:
            iri = iri.rsplit(sep, 1)[-1] or iri
    return iri


class OntologyView:
    """Reads side information from the store with a handful of SPARQL queries."""

    def __init__(self, store: KnowledgeStore, lang: str = "en"):
        self.store = store
        self.lang = lang

    def relation_iris(self) -> list[str]:
        rows = self.store.select(
            f"SELECT DISTINCT ?r WHERE {{ VALUES ?t {{ {iri_values(RELATION_TYPES)} }} ?r a ?t FILTER(isIRI(?r)) }}")
        return sorted(r["r"].value for r in rows if not r["r"].value.startswith(_BUILTIN_NAMESPACES))

    def relations_among(self, iris: list[str]) -> set[str]:
        """Those of `iris` that the graph declares as relations."""
        return self._those(iris, f"VALUES ?t {{ {iri_values(RELATION_TYPES)} }} ?x a ?t")

    def classes_among(self, iris: list[str]) -> set[str]:
        """Those of `iris` that some entity has as its rdf:type."""
        return self._those(iris, f"FILTER EXISTS {{ ?e <{RDF}type> ?x }}")

    def _those(self, iris: list[str], condition: str) -> set[str]:
        """Those of `iris` for which `condition` (a pattern about ?x) holds; asked 500 at a time."""
        found: set[str] = set()
        for start in range(0, len(iris), 500):
            rows = self.store.select(
                f"SELECT DISTINCT ?x WHERE {{ VALUES ?x {{ {iri_values(iris[start:start + 500])} }} {condition} }}")
            found.update(r["x"].value for r in rows)
        return found

    def relations(self, iris: list[str] | None = None) -> list[RelationInfo]:
        """Side information of the given relations (all relations of the graph when None), sorted by IRI."""
        if iris is None:
            iris = self.relation_iris()
        if not iris:
            return []
        props = LABEL_PROPERTIES + ALIAS_PROPERTIES + DESCRIPTION_PROPERTIES + DOMAIN_PROPERTIES + RANGE_PROPERTIES
        records = {iri: RelationInfo(iri=iri, label="") for iri in iris}
        # One query for all relations; chunked so that VALUES stays a reasonable size.
        for start in range(0, len(iris), 500):
            chunk = iris[start:start + 500]
            rows = self.store.select(
                f"SELECT ?r ?p ?o ?ol WHERE {{ VALUES ?r {{ {iri_values(tuple(chunk))} }} "
                f"VALUES ?p {{ {iri_values(props)} }} ?r ?p ?o . "
                f"OPTIONAL {{ FILTER(isIRI(?o)) ?o <{RDFS}label> ?ol }} }}")
            # Ordered by property preference, then value: every store (and every copy of one) gives the same
            # label, aliases and description, and so the same encoded text.
            rows = sorted(rows, key=lambda row: (row["r"].value, props.index(row["p"].value), str(row["o"]),
                                                 str(row.get("ol"))))
            for row in rows:
                self._merge(records[row["r"].value], row["p"].value, row["o"], row.get("ol"))
        self._merge_algebra(records)
        for info in records.values():
            if not info.label:
                info.label = local_name(info.iri)
            info.aliases = [a for a in dict.fromkeys(info.aliases) if a != info.label]
            info.domain = list(dict.fromkeys(info.domain))
            info.range = list(dict.fromkeys(info.range))
        return [records[i] for i in sorted(records)]

    def _merge_algebra(self, records: dict[str, RelationInfo]) -> None:
        """owl:SymmetricProperty and owl:inverseOf (read both ways) for the relations in `records`."""
        iris = list(records)
        for start in range(0, len(iris), 500):
            chunk = iri_values(tuple(iris[start:start + 500]))
            for row in self.store.select(f"SELECT DISTINCT ?r WHERE {{ VALUES ?r {{ {chunk} }} ?r a <{SYMMETRIC}> }}"):
                records[row["r"].value].symmetric = True
            rows = self.store.select(
                f"SELECT DISTINCT ?r ?i WHERE {{ VALUES ?r {{ {chunk} }} "
                f"{{ ?r <{INVERSE_OF}> ?i }} UNION {{ ?i <{INVERSE_OF}> ?r }} FILTER(isIRI(?i) && ?i != ?r) }}")
            for row in rows:
                info = records[row["r"].value]
                info.inverse = info.inverse or row["i"].value

    def _merge(self, info: RelationInfo, prop: str, obj, obj_label) -> None:
        if prop in DOMAIN_PROPERTIES + RANGE_PROPERTIES:
            target = info.domain if prop in DOMAIN_PROPERTIES else info.range
            if obj_label is not None and _lang_ok(obj_label, self.lang):
                target.append(obj_label.value)
            elif isinstance(obj, ox.NamedNode) and obj_label is None:
                target.append(local_name(obj.value))
            return
        if not isinstance(obj, ox.Literal) or not _lang_ok(obj, self.lang):
            return
        if prop in LABEL_PROPERTIES:
            if not info.label:
                info.label = obj.value
            else:
                info.aliases.append(obj.value)
        elif prop in ALIAS_PROPERTIES:
            info.aliases.append(obj.value)
        elif prop in DESCRIPTION_PROPERTIES and not info.description:
            info.description = obj.value

    def relation(self, iri: str) -> RelationInfo | None:
        """Side information of one relation, or None when the IRI is not a relation of the graph."""
        types = self.store.ask(f"ASK {{ VALUES ?t {{ {iri_values(RELATION_TYPES)} }} <{iri}> a ?t }}")
        return self.relations([iri])[0] if types else None

    def entity(self, iri: str, max_hypernyms: int = 30) -> EntityInfo:
        """Labels, classes and hypernyms (class labels up the rdfs:subClassOf chain) of one entity."""
        info = EntityInfo(iri=iri)
        rows = self.store.select(
            f"SELECT ?p ?o WHERE {{ VALUES ?p {{ {iri_values(LABEL_PROPERTIES + ALIAS_PROPERTIES)} <{RDF}type> }} "
            f"<{iri}> ?p ?o }}")
        for row in rows:
            obj = row["o"]
            if row["p"].value == RDF + "type":
                if isinstance(obj, ox.NamedNode):
                    info.classes.append(obj.value)
            elif isinstance(obj, ox.Literal) and _lang_ok(obj, self.lang):
                info.labels.append(obj.value)
        rows = self.store.select(
            f"SELECT DISTINCT ?c ?l WHERE {{ <{iri}> <{RDF}type>/<{RDFS}subClassOf>* ?c . "
            f"OPTIONAL {{ ?c <{RDFS}label> ?l }} }} ORDER BY ?c ?l LIMIT {max_hypernyms * 4}")
        for row in rows:
            label = row.get("l")
            if label is not None and _lang_ok(label, self.lang):
                info.hypernyms.append(label.value)
        info.labels = list(dict.fromkeys(info.labels))
        info.hypernyms = list(dict.fromkeys(info.hypernyms))[:max_hypernyms]
        return info

    def hypernyms(self, iris: list[str], max_per_entity: int = 8) -> dict[str, list[str]]:
        """Class labels of many entities at once (rdf:type, then rdfs:subClassOf*), nearest classes first."""
        out: dict[str, list[str]] = {}
        unique = list(dict.fromkeys(iris))
        for start in range(0, len(unique), 400):
            chunk = " ".join(f"<{i}>" for i in unique[start:start + 400])
            # Direct classes first: they name the entity most precisely. Ordered, so that every store (and
            # every copy of one) gives the same labels in the same order: they are encoded as text.
            for query in (f"SELECT ?e ?l WHERE {{ VALUES ?e {{ {chunk} }} ?e <{RDF}type> ?c . ?c <{RDFS}label> ?l }} "
                          "ORDER BY ?e ?l",
                          f"SELECT ?e ?l WHERE {{ VALUES ?e {{ {chunk} }} ?e <{RDF}type>/<{RDFS}subClassOf>+ ?c . "
                          f"?c <{RDFS}label> ?l }} ORDER BY ?e ?l"):
                for row in self.store.select(query):
                    if _lang_ok(row["l"], self.lang):
                        labels = out.setdefault(row["e"].value, [])
                        if row["l"].value not in labels and len(labels) < max_per_entity:
                            labels.append(row["l"].value)
        return out

    def add_observed_arguments(self, relations: list[RelationInfo], iris: list[str] | None = None) -> None:
        """Give relations without a declared domain/range the commonest classes of their facts' subjects
        and objects (`argument_classes`). `iris` names each relation in the graph when its record uses
        another id (FewRel's P26 for wdt:P26)."""
        apply_observed(relations, self.observed_arguments(relations, iris), iris)

    def observed_arguments(self, relations: list[RelationInfo], iris: list[str] | None = None) -> dict:
        """{relation: (domain labels, range labels)} observed in the facts, for relations that declare neither."""
        iris = [r.iri for r in relations] if iris is None else iris
        bare = [iri for r, iri in zip(relations, iris, strict=True) if not (r.domain or r.range)]
        return self.argument_classes(bare) if bare else {}

    def reciprocated(self, relation_iris: list[str]) -> set[str]:
        """Those of `relation_iris` whose facts are mostly stated both ways, (a r b) with (b r a): at least
        RECIPROCATED_MIN such facts, and RECIPROCATED_SHARE of the relation's facts between two entities."""
        found: set[str] = set()
        for start in range(0, len(relation_iris), 400):
            rows = self.store.select(
                f"SELECT ?r (COUNT(*) AS ?n) (SUM(IF(EXISTS {{ ?o ?r ?s }}, 1, 0)) AS ?k) "
                f"WHERE {{ VALUES ?r {{ {iri_values(relation_iris[start:start + 400])} }} "
                f"?s ?r ?o FILTER(isIRI(?o) && ?o != ?s) }} GROUP BY ?r")
            for row in rows:
                n, k = int(row["n"].value), int(row["k"].value)
                if k >= RECIPROCATED_MIN and k >= RECIPROCATED_SHARE * n:
                    found.add(row["r"].value)
        return found

    def argument_classes(self, relation_iris: list[str], top: int = 2, min_share: float = 0.2) -> dict:
        """Observed domain and range: the commonest classes of each relation's subjects and objects in its facts
        and in its labelled examples whose mentions name graph entities (an example is a fact a person read in
        text, so a relation with examples and no facts yet has its types too).

        Returns {relation: (domain labels, range labels)}, keeping at most `top` classes, each held by at
        least `min_share` of the relation's facts and examples; relations without typed ones are absent.
        """
        out: dict[str, tuple[list[str], list[str]]] = {}
        for start in range(0, len(relation_iris), 400):
            chunk = " ".join(f"<{i}>" for i in relation_iris[start:start + 400])
            totals = {r["r"].value: int(r["n"].value) for r in self.store.select(
                f"SELECT ?r (COUNT(*) AS ?n) WHERE {{ VALUES ?r {{ {chunk} }} {STATED} }} GROUP BY ?r")}
            sides: dict[str, list[list[str]]] = {}
            for side, var in ((0, "s"), (1, "o")):
                rows = self.store.select(
                    f"SELECT ?r ?c (MIN(?label) AS ?l) (COUNT(*) AS ?n) WHERE {{ VALUES ?r {{ {chunk} }} "
                    f"{STATED} ?{var} <{RDF}type> ?c . ?c <{RDFS}label> ?label }} "
                    # MIN and the class IRI break ties, so every store (and every copy of one) agrees.
                    "GROUP BY ?r ?c ORDER BY ?r DESC(?n) ?c")
                for row in rows:
                    r, n = row["r"].value, int(row["n"].value)
                    kept = sides.setdefault(r, [[], []])[side]
                    if len(kept) < top and n >= min_share * totals.get(r, n):
                        kept.append(row["l"].value)
            for r, (domain, range_) in sides.items():
                if domain or range_:
                    out[r] = (domain, range_)
        return out


def undeclared_algebra(relations: list[RelationInfo]) -> list[RelationInfo]:
    """The relations whose algebra the graph does not declare: neither symmetric nor with an inverse."""
    return [r for r in relations if not r.symmetric and not r.inverse]


def apply_observed(relations: list[RelationInfo], observed: dict, iris: list[str] | None = None) -> None:
    """Fill in observed domain/range (from `observed_arguments`) where a relation declares neither."""
    iris = [r.iri for r in relations] if iris is None else iris
    for r, iri in zip(relations, iris, strict=True):
        if not (r.domain or r.range) and iri in observed:
            r.domain, r.range = observed[iri]
