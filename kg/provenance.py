"""Accepted facts with provenance, in a named graph per labelling session.

Each fact is asserted as a plain triple in the session's graph, and described by a statement node
using W3C PROV-O plus the RDF reification vocabulary (rdf:subject/predicate/object), so any SPARQL
1.1 store can query it (RDF-star would need a store that supports it):

    GRAPH <urn:kgrel:graph:session:S> {
      <head> <relation> <tail> .
      <urn:kgrel:assertion:A> a rdf:Statement, prov:Entity ;
          rdf:subject <head> ; rdf:predicate <relation> ; rdf:object <tail> ;
          prov:wasDerivedFrom <urn:kgrel:sentence:H> ; prov:wasGeneratedBy <urn:kgrel:session:S> ;
          prov:wasAttributedTo <urn:kgrel:agent:alice> ; prov:generatedAtTime "..."^^xsd:dateTime ;
          kgrel:score 0.87 ; kgrel:headStart 0 ; kgrel:headEnd 5 ; kgrel:tailStart 20 ; kgrel:tailEnd 27 .
      <urn:kgrel:sentence:H> a kgrel:Sentence ; kgrel:text "..." .
      <urn:kgrel:session:S> a prov:Activity ; kgrel:relation <relation> ; prov:startedAtTime "..." .
      <urn:kgrel:decision:S-C> a kgrel:Decision ; kgrel:candidate "C" ; kgrel:outcome "accepted" ;
          kgrel:relation <relation> ; kgrel:example <urn:kgrel:example:S-C> ;
          kgrel:statement <urn:kgrel:assertion:S-C> ;
          prov:wasAttributedTo <urn:kgrel:agent:alice> ; prov:generatedAtTime "..."^^xsd:dateTime .
    }

A decision on a labelling candidate (accept, reject, correct) is written with its example and fact
in one transaction, under IRIs derived from the session and candidate: doing it twice writes nothing
new, and the decision node is the record a session's state is rebuilt from after a crash.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import pyoxigraph as ox

from kgrel.kg.examples import delete_example_update
from kgrel.kg.namespaces import KGREL, PROV, RDF, RDFS, SESSION_GRAPH_PREFIX, XSD
from kgrel.kg.store import KnowledgeStore, insert_data

_INT = ox.NamedNode(XSD + "integer")
_DECIMAL = ox.NamedNode(XSD + "decimal")
_DATETIME = ox.NamedNode(XSD + "dateTime")


def session_graph(session_id: str) -> str:
    return SESSION_GRAPH_PREFIX + session_id


def session_node(session_id: str) -> str:
    return "urn:kgrel:session:" + session_id


def agent_node(user: str) -> str:
    return "urn:kgrel:agent:" + quote(user, safe="")


def now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class AcceptedFact:
    head: str
    relation: str
    tail: str
    sentence: str
    head_span: tuple[int, int]
    tail_span: tuple[int, int]
    score: float | None
    user: str
    session_id: str
    also: tuple[str, ...] = ()  # other sentences of the document that state the fact (provenance too)


def sentence_node(key: str) -> ox.NamedNode:
    """The node of a sentence (or of a passage, keyed by its document and offset too): one per text."""
    return ox.NamedNode("urn:kgrel:sentence:" + hashlib.sha1(key.encode()).hexdigest())


def session_quads(session_id: str, relation: str, name: str, started: str) -> list[ox.Quad]:
    g, s = ox.NamedNode(session_graph(session_id)), ox.NamedNode(session_node(session_id))
    return [ox.Quad(s, ox.NamedNode(RDF + "type"), ox.NamedNode(PROV + "Activity"), g),
            ox.Quad(s, ox.NamedNode(RDFS + "label"), ox.Literal(name), g),
            ox.Quad(s, ox.NamedNode(KGREL + "relation"), ox.NamedNode(relation), g),
            ox.Quad(s, ox.NamedNode(PROV + "startedAtTime"), ox.Literal(started, datatype=_DATETIME), g)]


def fact_quads(fact: AcceptedFact, when: str | None = None,
               statement: str | None = None) -> tuple[str, list[ox.Quad]]:
    """The asserted triple and its provenance; returns the statement node's IRI too (a fresh one unless given)."""
    g = ox.NamedNode(session_graph(fact.session_id))
    statement = statement or "urn:kgrel:assertion:" + uuid.uuid4().hex
    a = ox.NamedNode(statement)
    head, relation, tail = ox.NamedNode(fact.head), ox.NamedNode(fact.relation), ox.NamedNode(fact.tail)

    def q(s, p: str, o) -> ox.Quad:
        return ox.Quad(s, ox.NamedNode(p), o, g)

    def integer(value: int) -> ox.Literal:
        return ox.Literal(str(value), datatype=_INT)

    quads = [
        ox.Quad(head, relation, tail, g),
        q(a, RDF + "type", ox.NamedNode(RDF + "Statement")),
        q(a, RDF + "type", ox.NamedNode(PROV + "Entity")),
        q(a, RDF + "subject", head), q(a, RDF + "predicate", relation), q(a, RDF + "object", tail),
        q(a, PROV + "wasGeneratedBy", ox.NamedNode(session_node(fact.session_id))),
        q(a, PROV + "wasAttributedTo", ox.NamedNode(agent_node(fact.user))),
        q(a, PROV + "generatedAtTime", ox.Literal(when or now(), datatype=_DATETIME)),
        q(a, KGREL + "headStart", integer(fact.head_span[0])), q(a, KGREL + "headEnd", integer(fact.head_span[1])),
        q(a, KGREL + "tailStart", integer(fact.tail_span[0])), q(a, KGREL + "tailEnd", integer(fact.tail_span[1])),
    ]
    for text in (fact.sentence, *fact.also):  # the sentence decided on, then the others stating the fact
        sentence = sentence_node(text)
        quads += [q(a, PROV + "wasDerivedFrom", sentence), q(sentence, RDF + "type", ox.NamedNode(KGREL + "Sentence")),
                  q(sentence, KGREL + "text", ox.Literal(text))]
    if fact.score is not None:
        quads.append(q(a, KGREL + "score", ox.Literal(f"{fact.score:.4f}", datatype=_DECIMAL)))
    return statement, quads


@dataclass
class Decision:
    """What a labeller decided about one candidate of a session, as recorded in the session's graph."""

    session_id: str
    candidate_id: str
    outcome: str  # accepted | rejected | corrected
    relation: str | None
    user: str
    when: str
    example: str | None = None
    statement: str | None = None


def decision_node(session_id: str, candidate_id: str) -> str:
    return f"urn:kgrel:decision:{session_id}-{candidate_id}"


def statement_node(session_id: str, candidate_id: str) -> str:
    return f"urn:kgrel:assertion:{session_id}-{candidate_id}"


def decision_quads(decision: Decision) -> list[ox.Quad]:
    g = ox.NamedNode(session_graph(decision.session_id))
    d = ox.NamedNode(decision_node(decision.session_id, decision.candidate_id))
    quads = [ox.Quad(d, ox.NamedNode(RDF + "type"), ox.NamedNode(KGREL + "Decision"), g),
             ox.Quad(d, ox.NamedNode(KGREL + "candidate"), ox.Literal(decision.candidate_id), g),
             ox.Quad(d, ox.NamedNode(KGREL + "outcome"), ox.Literal(decision.outcome), g),
             ox.Quad(d, ox.NamedNode(PROV + "wasAttributedTo"), ox.NamedNode(agent_node(decision.user)), g),
             ox.Quad(d, ox.NamedNode(PROV + "generatedAtTime"), ox.Literal(decision.when, datatype=_DATETIME), g)]
    for prop, value in (("relation", decision.relation), ("example", decision.example),
                        ("statement", decision.statement)):
        if value:
            quads.append(ox.Quad(d, ox.NamedNode(KGREL + prop), ox.NamedNode(value), g))
    return quads


def decisions(store: KnowledgeStore, session_id: str) -> dict[str, Decision]:
    """The decisions recorded in a session's graph, by candidate id."""
    g = session_graph(session_id)
    rows = store.select(
        f"SELECT ?c ?outcome ?who ?when ?relation ?example ?statement WHERE {{ GRAPH <{g}> {{ "
        f"?d a <{KGREL}Decision> ; <{KGREL}candidate> ?c ; <{KGREL}outcome> ?outcome ; "
        f"<{PROV}wasAttributedTo> ?who ; <{PROV}generatedAtTime> ?when . "
        f"OPTIONAL {{ ?d <{KGREL}relation> ?relation }} OPTIONAL {{ ?d <{KGREL}example> ?example }} "
        f"OPTIONAL {{ ?d <{KGREL}statement> ?statement }} }} }}")
    out = {}
    for row in rows:
        value = {k: v.value for k, v in row.items()}
        out[value["c"]] = Decision(session_id, value["c"], value["outcome"], value.get("relation"),
                                   unquote(value["who"].removeprefix("urn:kgrel:agent:")), value["when"],
                                   value.get("example"), value.get("statement"))
    return out


def remove_statement_update(session_id: str, statement: str) -> str:
    """The SPARQL update that withdraws a fact: its statement node, and the triple unless another statement
    of the session asserts it."""
    g = session_graph(session_id)
    return (f"DELETE {{ GRAPH <{g}> {{ ?s ?p ?o }} }} WHERE {{ GRAPH <{g}> {{ <{statement}> <{RDF}subject> ?s ; "
            f"<{RDF}predicate> ?p ; <{RDF}object> ?o . FILTER NOT EXISTS {{ ?other <{RDF}subject> ?s ; "
            f"<{RDF}predicate> ?p ; <{RDF}object> ?o . FILTER(?other != <{statement}>) }} }} }} ; "
            f"DELETE WHERE {{ GRAPH <{g}> {{ <{statement}> ?p2 ?o2 }} }}")


def undo_decision(store: KnowledgeStore, decision: Decision, user: str, when: str) -> str:
    """Take a decision back in one transaction: its fact (statement, and the triple unless another statement
    asserts it), its example and its decision record go; a kgrel:Revision records who undid what, when.
    Returns the revision's IRI."""
    g = session_graph(decision.session_id)
    revision = f"urn:kgrel:revision:{decision.session_id}-{decision.candidate_id}-{uuid.uuid4().hex[:8]}"
    steps = []
    if decision.statement:
        steps.append(remove_statement_update(decision.session_id, decision.statement))
    if decision.example:
        steps.append(delete_example_update(decision.example))
    steps.append(f"DELETE WHERE {{ GRAPH <{g}> {{ <{decision_node(decision.session_id, decision.candidate_id)}> "
                 f"?p ?o }} }}")
    record = [ox.Quad(ox.NamedNode(revision), ox.NamedNode(RDF + "type"), ox.NamedNode(KGREL + "Revision"),
                      ox.NamedNode(g))]
    r, gn = ox.NamedNode(revision), ox.NamedNode(g)
    record += [ox.Quad(r, ox.NamedNode(KGREL + "candidate"), ox.Literal(decision.candidate_id), gn),
               ox.Quad(r, ox.NamedNode(KGREL + "undid"), ox.Literal(decision.outcome), gn),
               ox.Quad(r, ox.NamedNode(PROV + "wasAttributedTo"), ox.NamedNode(agent_node(user)), gn),
               ox.Quad(r, ox.NamedNode(PROV + "generatedAtTime"), ox.Literal(when, datatype=_DATETIME), gn)]
    if decision.relation:
        record.append(ox.Quad(r, ox.NamedNode(KGREL + "relation"), ox.NamedNode(decision.relation), gn))
    steps.append(insert_data(record))
    store.update(" ;\n".join(steps))
    return revision


@dataclass
class Passage:
    """A passage of a document that states a fact: its text, its offset in the document and the head's and
    tail's spans in it."""

    text: str
    start: int
    head_span: tuple[int, int]
    tail_span: tuple[int, int]


@dataclass
class DocumentFact:
    """A fact found in a document by batch extraction, with every passage that supports it (the first is
    the one its head and tail offsets point into)."""

    graph: str
    document: str
    head: str
    relation: str
    tail: str
    passages: list[Passage]
    score: float
    model: str


def document_node(document: str) -> str:
    return "urn:kgrel:document:" + quote(document, safe="")


def document_fact_quads(fact: DocumentFact) -> list[ox.Quad]:
    """The fact and its provenance (document, the document offsets of its first passage, every supporting
    passage, model, score), under a statement IRI derived from the document and the fact: extracting the same
    document twice gives the same quads."""
    g = ox.NamedNode(fact.graph)
    key = "\n".join([fact.document, fact.head, fact.relation, fact.tail])
    a = ox.NamedNode("urn:kgrel:assertion:" + hashlib.sha1(key.encode()).hexdigest())
    head, relation, tail = ox.NamedNode(fact.head), ox.NamedNode(fact.relation), ox.NamedNode(fact.tail)

    def q(s, p: str, o) -> ox.Quad:
        return ox.Quad(s, ox.NamedNode(p), o, g)

    first = fact.passages[0]
    spans = (first.start + first.head_span[0], first.start + first.head_span[1],
             first.start + first.tail_span[0], first.start + first.tail_span[1])
    quads = [
        ox.Quad(head, relation, tail, g),
        q(a, RDF + "type", ox.NamedNode(RDF + "Statement")),
        q(a, RDF + "subject", head), q(a, RDF + "predicate", relation), q(a, RDF + "object", tail),
        q(a, PROV + "wasDerivedFrom", ox.NamedNode(document_node(fact.document))),
        q(a, KGREL + "headStart", ox.Literal(str(spans[0]), datatype=_INT)),
        q(a, KGREL + "headEnd", ox.Literal(str(spans[1]), datatype=_INT)),
        q(a, KGREL + "tailStart", ox.Literal(str(spans[2]), datatype=_INT)),
        q(a, KGREL + "tailEnd", ox.Literal(str(spans[3]), datatype=_INT)),
        q(a, KGREL + "score", ox.Literal(f"{fact.score:.4f}", datatype=_DECIMAL)),
        q(a, KGREL + "model", ox.Literal(fact.model)),
    ]
    for passage in fact.passages:
        sentence = sentence_node(f"{fact.document}\n{passage.start}\n{passage.text}")  # this document's passage
        quads += [q(a, KGREL + "sentence", sentence),
                  q(sentence, RDF + "type", ox.NamedNode(KGREL + "Sentence")),
                  q(sentence, KGREL + "text", ox.Literal(passage.text)),
                  q(sentence, KGREL + "start", ox.Literal(str(passage.start), datatype=_INT))]
    return quads


def session_triples(store: KnowledgeStore, session_id: str) -> list[ox.Triple]:
    """Every triple of a labelling session's named graph (its facts and their provenance)."""
    graph = session_graph(session_id)
    return list(store.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"))
