"""Writes under concurrency and crashes, against the real server.

An ingest is one transaction: a server killed with -9 during a large ingest restarts with the old
graph or the old graph plus the whole file. An accept writes the example, the fact with its
provenance and the decision in one transaction: concurrent accepts of one suggestion store one
example, and a server killed with -9 at any moment restarts with every decision either wholly there
(and shown as decided) or wholly absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.app.test_api_labelling import MUSIC, TEXT
from tests.conftest import DATA, UNTRAINED, free_port, wait_http

PREFIXES = "PREFIX kgrel: <https://w3id.org/kgrel#> "


class Server:
    """`kgrel serve` on a data dir that outlives restarts."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> Server:
        port = free_port()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "KGREL_MODEL": str(UNTRAINED)}
        self.proc = subprocess.Popen([sys.executable, "-m", "kgrel.app.cli", "serve", "--port", str(port),
                                      "--data-dir", str(self.data_dir)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        wait_http(self.url + "/health", proc=self.proc)
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def select(self, query: str) -> list[dict]:
        r = httpx.get(self.url + "/graph/sparql", params={"query": PREFIXES + query}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["results"]["bindings"]


@pytest.fixture
def server(tmp_path):
    server = Server(tmp_path / "var").start()
    for body in ((DATA / "ontology.ttl").read_bytes(), MUSIC.encode()):
        assert httpx.post(server.url + "/graph/triples", content=body,
                          headers={"Content-Type": "text/turtle"}).is_success
    assert httpx.post(server.url + "/relations", json={"id": "ex:composer", "label": "composer"}).status_code == 201
    try:
        yield server
    finally:
        server.stop()


def count(server: Server) -> int:
    return int(server.select("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }")[0]["n"]["value"])


def test_kill_9_during_a_large_ingest_leaves_all_or_nothing(server):
    triples = 100_000
    body = "".join(f"<urn:big:{i}> <urn:big:p> \"{i}\" .\n" for i in range(triples)).encode()
    rng = random.Random(1)
    for _ in range(2):
        before = count(server)
        sender = threading.Thread(target=lambda: _post_ignoring_errors(server.url + "/graph/triples", body))
        sender.start()
        time.sleep(rng.uniform(0.2, 1.5))
        server.kill()
        sender.join()
        server.start()
        after = count(server)
        assert after in (before, before + triples), (before, after)


def _post_ignoring_errors(url: str, body: bytes) -> None:
    with contextlib.suppress(httpx.TransportError):  # the server was killed under it
        httpx.post(url, content=body, headers={"Content-Type": "application/n-triples"}, timeout=120)


def new_session(server: Server, copies: int = 1) -> tuple[str, list[dict]]:
    sid = httpx.post(server.url + "/sessions", json={"relation": "ex:composer"}).json()["id"]
    # Each copy's sentences differ (a prefix), so each copy gives new candidates.
    documents = [f"In draft {i}, " + TEXT.replace(". ", f". In draft {i}, ") for i in range(copies)]
    httpx.post(server.url + f"/sessions/{sid}/texts", json={"documents": documents}, timeout=60)
    suggestions = httpx.get(server.url + f"/sessions/{sid}/suggestions", params={"n": 200}, timeout=60).json()
    return sid, suggestions


def examples_of(server: Server, sid: str) -> list[str]:
    rows = server.select(f"SELECT ?e {{ GRAPH ?g {{ ?e kgrel:source <urn:kgrel:session:{sid}> }} }}")
    return [row["e"]["value"] for row in rows]


def test_concurrent_accepts_of_one_suggestion_store_one_example(server):
    sid, [first, *_] = new_session(server)
    url = server.url + f"/sessions/{sid}/suggestions/{first['id']}"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: httpx.post(url, json={"decision": "accept"}, timeout=60), range(8)))
    assert {a.status_code for a in answers} == {200}
    assert len({json.dumps(a.json(), sort_keys=True) for a in answers}) == 1  # all see the one decision
    assert len(examples_of(server, sid)) == 1
    decisions = server.select("SELECT ?d { GRAPH ?g { ?d a kgrel:Decision } }")
    assert len(decisions) == 1


def test_lost_session_file_write_is_recovered_from_the_graph(server):
    """A crash after the graph's transaction and before the session file is written."""
    sid, [first, *_] = new_session(server)
    session_file = server.data_dir / "sessions" / f"{sid}.json"
    before = session_file.read_bytes()
    r = httpx.post(server.url + f"/sessions/{sid}/suggestions/{first['id']}", json={"decision": "accept"})
    assert r.status_code == 200
    server.kill()
    session_file.write_bytes(before)  # as if the file write never happened
    server.start()
    session = httpx.get(server.url + f"/sessions/{sid}").json()
    assert session["counts"]["accepted"] == 1
    again = httpx.post(server.url + f"/sessions/{sid}/suggestions/{first['id']}", json={"decision": "accept"})
    assert again.status_code == 200 and again.json()["example"] == r.json()["example"]
    assert len(examples_of(server, sid)) == 1


def test_kill_9_during_accepts_leaves_each_decision_whole(server):
    sid, suggestions = new_session(server, copies=6)
    assert len(suggestions) >= 12
    rng = random.Random(0)
    pending = [s["id"] for s in suggestions]
    for _ in range(3):
        stop = threading.Event()

        def accept_all(pending=pending, stop=stop):
            for cid in pending:
                if stop.is_set():
                    return
                try:
                    httpx.post(server.url + f"/sessions/{sid}/suggestions/{cid}", json={"decision": "accept"},
                               timeout=30)
                except httpx.TransportError:
                    return

        worker = threading.Thread(target=accept_all)
        worker.start()
        time.sleep(rng.uniform(0.05, 0.4))
        server.kill()
        stop.set()
        worker.join()
        server.start()
        # Every example has its decision and the session shows it; no candidate has two examples.
        examples = examples_of(server, sid)
        assert len(examples) == len(set(examples))
        decided = server.select(f"SELECT ?c ?e {{ GRAPH <urn:kgrel:graph:session:{sid}> {{ ?d a kgrel:Decision ; "
                                f"kgrel:candidate ?c ; kgrel:example ?e }} }}")
        assert {row["e"]["value"] for row in decided} == set(examples)
        state = {s["id"]: s["status"] for s in httpx.get(server.url + f"/sessions/{sid}/suggestions",
                                                         params={"n": 200}, timeout=60).json()}
        decided_ids = {row["c"]["value"] for row in decided}
        assert decided_ids.isdisjoint(state)  # decided ones are no longer offered
        pending = [cid for cid in pending if cid not in decided_ids]
        counts = httpx.get(server.url + f"/sessions/{sid}").json()["counts"]
        assert counts["accepted"] == len(decided_ids)
