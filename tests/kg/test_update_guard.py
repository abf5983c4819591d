"""The WHERE clauses of an update, found lexically, with their dataset; and the update's time limit."""

import pyoxigraph as ox
import pytest

from kgrel.kg import isolation
from kgrel.kg.sparql import QueryLimits, run_update
from kgrel.kg.store import EmbeddedStore
from kgrel.kg.update_guard import prologue, where_clauses


def test_clauses_and_their_datasets():
    update = ('PREFIX ex: <http://ex/> # WHERE { not this }\n'
              'WITH <http://g/1> DELETE { ?s ex:p "WHERE {" } INSERT { ?s ex:q 1 } WHERE { ?s ex:p ?o . '
              'FILTER(?o != "}") OPTIONAL { ?s ex:r ?r } } ;\n'
              'INSERT DATA { ex:a ex:b ex:c } ;\n'
              'DELETE { ?x ?y ?z } USING <http://g/2> USING NAMED <http://g/3> WHERE { ?x ?y ?z } ;\n'
              'DELETE WHERE { GRAPH ?g { ?a ex:gone ?b } }')
    clauses = where_clauses(update)
    assert [c.pattern for c in clauses] == [
        '{ ?s ex:p ?o . FILTER(?o != "}") OPTIONAL { ?s ex:r ?r } }', "{ ?x ?y ?z }", "{ GRAPH ?g { ?a ex:gone ?b } }"]
    assert clauses[0].default_graphs == ["http://g/1"]
    assert clauses[1].default_graphs == ["http://g/2"] and clauses[1].named_graphs == ["http://g/3"]
    assert clauses[2].default_graphs == [] and clauses[2].named_graphs == []
    assert prologue(update) == "PREFIX ex: <http://ex/>"


@pytest.mark.skipif(not isolation.available(), reason="forked queries are Linux only")
def test_an_endless_where_is_stopped_and_changes_nothing(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    store.insert([ox.Quad(ox.NamedNode(f"urn:s{i}"), ox.NamedNode("urn:p"), ox.Literal(str(i)), ox.DefaultGraph())
                  for i in range(300)])
    endless = ("INSERT { <urn:x> <urn:n> ?n } WHERE { SELECT (COUNT(*) AS ?n) "
               "{ ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l } }")
    with pytest.raises(isolation.TimedOut, match="nothing was changed"):
        run_update(store, endless, limits=QueryLimits(timeout_s=1))
    assert store.count() == 300
    run_update(store, "DELETE WHERE { ?s <urn:p> ?o }", limits=QueryLimits(timeout_s=5))
    assert store.count() == 0
    store.close()
