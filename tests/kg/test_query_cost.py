"""Which queries run without a child process: one triple pattern, nothing that joins, sorts or groups."""

import pytest

from kgrel.kg.query_cost import one_scan


@pytest.mark.parametrize("query", [
    "SELECT ?s ?l WHERE { ?s rdfs:label ?l } LIMIT 10",
    "PREFIX ex: <http://ex/> SELECT (COUNT(*) AS ?n) WHERE { ?s a ex:City . }",
    'select * { ?s <http://ex/p> "x {y}"@en FILTER(regex(str(?s), "(a|b)")) } limit 5 offset 2',
    "ASK { <http://ex/a> ?p ?o }",
    "SELECT ?o WHERE { ?s ?p ?o FILTER isLiteral(?o) }  # a comment with { braces }",
])
def test_single_pattern_queries_are_one_scan(query):
    assert one_scan(query)


@pytest.mark.parametrize("query", [
    "SELECT * { ?a ?b ?c . ?d ?e ?f }",  # a join (a product)
    "SELECT * { ?s ex:p ?o ; ex:q ?x }",  # two patterns
    "SELECT * { ?s ex:p ?o , ?x }",
    "SELECT * { ?s ex:p/ex:q ?o }",  # a path
    "SELECT * { ?s ex:p* ?o }",
    "SELECT * { ?s ^ex:p ?o }",
    "SELECT ?p (COUNT(*) AS ?n) { ?s ?p ?o } GROUP BY ?p",
    "SELECT ?s { ?s ?p ?o } ORDER BY ?s",
    "SELECT DISTINCT ?p { ?s ?p ?o }",
    "SELECT (GROUP_CONCAT(?o) AS ?all) { ?s ?p ?o }",
    "SELECT * { { SELECT * { ?a ?b ?c } } }",  # a subquery
    "SELECT * { ?s ?p ?o OPTIONAL { ?o ?q ?r } }",
    "SELECT * { ?s ?p ?o FILTER EXISTS { ?o ?q ?r } }",
    "SELECT * { ?s ?p [ ex:q ?r ] }",
    "SELECT * { GRAPH ?g { ?s ?p ?o } }",
    "SELECT * { SERVICE <http://ex/> { ?s ?p ?o } }",
    "CONSTRUCT WHERE { ?s ?p ?o }",
    "SELECT * { ?s ?p ?o FILTER((?o) }",
    "SELECT * { ?s ?p ?o } LIMIT 10 ORDER BY ?s",
])
def test_anything_else_is_not(query):
    assert not one_scan(query)
