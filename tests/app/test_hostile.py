"""Hostile and malformed input against the real server (`kgrel serve`, real sockets).

What a probe of the running service found, kept closed: SERVICE calls to loopback and file: URLs,
an RDF/XML entity bomb, unbounded queries that outlive their client, bodies read before the key
check, and inputs that gave server errors. Every request goes to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

from tests.conftest import DATA, UNTRAINED, free_port, wait_http

WRITE, READ = {"X-API-Key": "w-key"}, {"X-API-Key": "r-key"}
TIMEOUT_S = 3
# A 5-way cartesian product over a few hundred triples: runs for hours if nothing stops it.
ENDLESS_COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"


def start_server(tmp_path, **settings: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KGREL_MODEL": str(UNTRAINED), "KGREL_API_KEY": "w-key",
           "KGREL_READ_KEY": "r-key", "KGREL_SPARQL_TIMEOUT_S": str(TIMEOUT_S), "KGREL_SPARQL_MAX_ROWS": "500",
           "KGREL_SPARQL_CONCURRENCY": "2", "KGREL_MAX_BODY_BYTES": str(30 * 2**20), "KGREL_MAX_EXAMPLES": "20",
           **settings}
    proc = subprocess.Popen([sys.executable, "-m", "kgrel.app.cli", "serve", "--port", str(port), "--data-dir",
                             str(tmp_path / "var")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health", proc=proc)
    return proc, url


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url = start_server(tmp_path_factory.mktemp("hostile"))
    r = httpx.post(url + "/graph/triples", content=(DATA / "ontology.ttl").read_bytes(),
                   headers={"Content-Type": "text/turtle", **WRITE})
    assert r.status_code == 200, r.text
    try:
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def count(url: str) -> int:
    r = httpx.get(url + "/graph/sparql", params={"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"}, headers=READ)
    return int(r.json()["results"]["bindings"][0]["n"]["value"])


def query_children(proc: subprocess.Popen) -> list[psutil.Process]:
    """Processes the server forked to run queries (and that are still alive)."""
    return [c for c in psutil.Process(proc.pid).children() if c.status() != psutil.STATUS_ZOMBIE]


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


# SSRF -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("template", [
    "SELECT * WHERE {{ SERVICE <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }} }}",
    "select * where {{ service silent <http://127.0.0.1:{port}/> {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ BIND(<http://127.0.0.1:{port}/> AS ?u) SERVICE ?u {{ ?s ?p ?o }} }}",
    "PREFIX l: <http://127.0.0.1:{port}/> SELECT * WHERE {{ SERVICE l:x {{ ?s ?p ?o }} }}",
])
def test_service_calls_are_refused_and_never_made(server, template):
    _, url = server
    listener = Listener()
    try:
        query = template.format(port=listener.port)
        r = httpx.get(url + "/graph/sparql", params={"query": query}, headers=WRITE)
        assert r.status_code == 403, r.text
        assert "SERVICE" in r.json()["detail"]
        time.sleep(0.3)
        assert listener.connections == 0
    finally:
        listener.close()


def test_file_service_is_refused(server):
    _, url = server
    r = httpx.post(url + "/graph/sparql", content="SELECT * { SERVICE <file:///etc/passwd> { ?s ?p ?o } }",
                   headers={"Content-Type": "application/sparql-query", **READ})
    assert r.status_code == 403


def test_the_word_service_in_a_string_or_iri_is_not_a_service_call(server):
    _, url = server
    query = 'SELECT ?x WHERE { BIND("SERVICE <http://127.0.0.1/>" AS ?x) FILTER(?x != <urn:SERVICE>) }  # SERVICE'
    r = httpx.get(url + "/graph/sparql", params={"query": query}, headers=READ)
    assert r.status_code == 200, r.text


# Unbounded queries ------------------------------------------------------------------------------

def test_endless_query_stops_at_the_time_limit_and_leaves_nothing_running(server):
    proc, url = server
    start = time.monotonic()
    r = httpx.get(url + "/graph/sparql", params={"query": ENDLESS_COUNT}, headers=READ, timeout=60)
    took = time.monotonic() - start
    assert r.status_code == 503, r.text
    assert "did not finish within" in r.json()["detail"]
    assert TIMEOUT_S - 0.5 < took < TIMEOUT_S + 5
    assert query_children(proc) == []


def test_a_client_that_goes_away_stops_its_query(server):
    proc, url = server
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url + "/graph/sparql", params={"query": ENDLESS_COUNT}, headers=READ, timeout=0.8)
    deadline = time.monotonic() + 1.5  # well before the 3 s time limit
    while query_children(proc) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert query_children(proc) == []


def test_endless_update_is_stopped_before_it_writes(server):
    proc, url = server
    before = count(url)
    update = f"INSERT {{ <urn:x> <urn:n> ?n }} WHERE {{ {ENDLESS_COUNT} }}"
    r = httpx.post(url + "/graph/update", content=update, headers={"Content-Type": "application/sparql-update",
                                                                   **WRITE}, timeout=60)
    assert r.status_code == 503 and "nothing was changed" in r.json()["detail"]
    assert count(url) == before
    assert query_children(proc) == []


def test_big_results_are_refused_with_a_hint(server):
    _, url = server
    r = httpx.get(url + "/graph/sparql", params={"query": "SELECT * { ?a ?b ?c . ?d ?e ?f }"}, headers=READ)
    assert r.status_code == 422
    assert "LIMIT" in r.json()["detail"]
    r = httpx.get(url + "/graph/sparql", params={"query": "SELECT * { ?a ?b ?c . ?d ?e ?f } LIMIT 500"},
                  headers=READ)
    assert r.status_code == 200 and len(r.json()["results"]["bindings"]) == 500


def test_slow_queries_cannot_take_every_worker(server):
    _, url = server

    def slow(_):
        return httpx.get(url + "/graph/sparql", params={"query": ENDLESS_COUNT}, headers=READ, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(slow, i) for i in range(8)]
        time.sleep(0.5)
        start = time.monotonic()
        health = httpx.get(url + "/health", timeout=10)
        assert health.status_code == 200 and time.monotonic() - start < 1.0
        answers = [f.result() for f in futures]
    busy = [a for a in answers if a.status_code == 503 and "Retry-After" in a.headers]
    assert len(busy) >= 5  # two run (and time out), the rest are turned away at once
    assert all(a.status_code == 503 for a in answers)


# RDF input ------------------------------------------------------------------------------------

def entity_bomb(levels: int = 9) -> bytes:
    entities = '<!ENTITY e0 "lollollollol">' + "".join(
        f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, levels))
    return (f'<?xml version="1.0"?><!DOCTYPE rdf:RDF [{entities}]>'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">'
            f'<rdf:Description rdf:about="http://example.org/bomb"><ex:p>&e{levels - 1};</ex:p>'
            '</rdf:Description></rdf:RDF>').encode()


def test_xml_entity_bomb_is_refused_and_nothing_stored(server):
    proc, url = server
    before, rss = count(url), psutil.Process(proc.pid).memory_info().rss
    bomb = entity_bomb()
    assert len(bomb) < 800
    r = httpx.post(url + "/graph/triples", content=bomb, headers={"Content-Type": "application/rdf+xml", **WRITE})
    assert r.status_code == 400
    assert "nested entities are refused" in r.json()["detail"]
    assert count(url) == before
    assert psutil.Process(proc.pid).memory_info().rss < rss + 50 * 2**20


def test_ontology_editor_entities_still_load(server):
    _, url = server
    doc = ('<?xml version="1.0"?><!DOCTYPE rdf:RDF [<!ENTITY ex "http://example.org/"> '
           '<!ENTITY rdfs "http://www.w3.org/2000/01/rdf-schema#">]>'
           '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:rdfs="&rdfs;">'
           '<rdf:Description rdf:about="&ex;protege"><rdfs:label>from an editor</rdfs:label>'
           '</rdf:Description></rdf:RDF>')
    r = httpx.post(url + "/graph/triples", content=doc, headers={"Content-Type": "application/rdf+xml", **WRITE})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 1


def test_oversize_term_bad_base_and_long_ids_are_4xx(server):
    _, url = server
    before = count(url)
    huge = b'<http://example.org/s> <http://example.org/p> "' + b"x" * (20 * 2**20) + b'" .\n'
    r = httpx.post(url + "/graph/triples", content=huge, timeout=60,
                   headers={"Content-Type": "application/n-triples", **WRITE})
    assert r.status_code == 413 and "term" in r.json()["detail"]
    r = httpx.post(url + "/graph/triples", params={"base": "http://[oops"}, content=b"<a> <b> <c> .",
                   headers={"Content-Type": "text/turtle", **WRITE})
    assert r.status_code == 422 and "base IRI" in r.json()["detail"]
    assert count(url) == before
    r = httpx.get(url + "/sessions/" + "a" * 5000, headers=READ)
    assert r.status_code == 404
    r = httpx.post(url + "/sessions/" + "f" * 5000 + "/texts", json={"text": "x"}, headers=WRITE)
    assert r.status_code == 404


def test_example_batches_are_capped(server):
    _, url = server
    example = {"text": "Paris is in France.", "head": {"start": 0, "end": 5}, "tail": {"start": 12, "end": 18}}
    r = httpx.post(url + "/relations/ex:capital/examples", json=[example] * 21, headers=WRITE)
    assert r.status_code == 413 and "KGREL_MAX_EXAMPLES" in r.json()["detail"]


def test_rewritten_literals_are_reported(server):
    _, url = server
    doc = ('@prefix xsd: <http://www.w3.org/2001/XMLSchema#> . <http://example.org/n> '
           '<http://example.org/v> "0042"^^xsd:int, "1"^^xsd:boolean, "plain" .')
    r = httpx.post(url + "/graph/triples", content=doc, headers={"Content-Type": "text/turtle", **WRITE})
    assert r.status_code == 200
    body = r.json()
    assert body["rewritten"] == 2
    stored = {e["given"]: e["stored"] for e in body["rewritten_examples"]}
    assert stored['"0042"^^<http://www.w3.org/2001/XMLSchema#int>'] == \
        '"42"^^<http://www.w3.org/2001/XMLSchema#integer>'


# Keys -------------------------------------------------------------------------------------------

def test_no_key_is_refused_before_the_body_is_read(server):
    proc, url = server
    r = httpx.post(url + "/predict", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 401  # not 422: the body was never parsed
    rss = psutil.Process(proc.pid).memory_info().rss
    body = b"x" * (25 * 2**20)
    for _ in range(4):
        try:
            r = httpx.post(url + "/graph/triples", content=body, headers={"Content-Type": "text/turtle"}, timeout=30)
            assert r.status_code == 401
        except httpx.TransportError:
            pass  # the server may answer and close before the upload ends: that is the point
    assert psutil.Process(proc.pid).memory_info().rss < rss + 40 * 2**20


def test_read_key_reads_but_cannot_write(server):
    _, url = server
    assert httpx.get(url + "/relations", headers=READ).status_code == 200
    assert httpx.post(url + "/graph/sparql", content="ASK {}", headers={
        "Content-Type": "application/sparql-query", **READ}).status_code == 200
    r = httpx.post(url + "/graph/triples", content=b"<urn:a> <urn:b> <urn:c> .",
                   headers={"Content-Type": "application/n-triples", **READ})
    assert r.status_code == 403 and "read key" in r.json()["detail"]
    r = httpx.post(url + "/extract", params={"ingest": "true"}, json={"text": "x"}, headers=READ)
    assert r.status_code == 403
    assert httpx.get(url + "/relations", headers={"X-API-Key": "nope"}).status_code == 401


def test_public_health_shows_no_locations(server):
    _, url = server
    public = httpx.get(url + "/health").json()
    assert public["status"] == "ok" and public["store"] is None and public["encoder"] is None
    assert httpx.get(url + "/health", headers=READ).json()["store"].startswith("oxigraph:")


# Protocol details ---------------------------------------------------------------------------------

def test_sparql_protocol_corners(server):
    _, url = server
    r = httpx.get(url + "/graph/sparql", params={"query": "ASK { ?s ?p ?o }"}, headers={"Accept": "text/csv", **READ})
    assert r.status_code == 200 and r.text.strip() == "true"
    r = httpx.get(url + "/graph/sparql", params={"query": "CONSTRUCT WHERE { ?s a ?c } LIMIT 3"},
                  headers={"Accept": "application/sparql-results+json", **READ})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/turtle")
    r = httpx.get(url + "/graph/sparql", params={"query": "ASK { ?s ?p ?o }", "default-graph-uri": "default"},
                  headers=READ)
    assert r.status_code == 200 and r.json()["boolean"] is True


def test_sigterm_stops_a_server_running_endless_queries(tmp_path):
    proc, url = start_server(tmp_path)
    try:
        httpx.post(url + "/graph/triples", content=(DATA / "ontology.ttl").read_bytes(),
                   headers={"Content-Type": "text/turtle", **WRITE})
        with ThreadPoolExecutor(2) as pool:
            for _ in range(2):
                pool.submit(httpx.get, url + "/graph/sparql", params={"query": ENDLESS_COUNT}, headers=READ,
                            timeout=60)
            time.sleep(0.8)
            children = query_children(proc)
            assert children
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=TIMEOUT_S + 10)
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    finally:
        if proc.poll() is None:
            proc.kill()
