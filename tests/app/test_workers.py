"""Several kgrel workers over one SPARQL server (started by the test): each is a real `kgrel serve`
process. What one worker writes reaches the next request on the other (relations, examples, prefixes,
graph embeddings), background jobs run once whichever worker is asked, and `kgrel serve --workers 2`
serves from two processes."""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from tests.app.test_api_relations import span
from tests.app.test_cli import KGREL, ROOT, run
from tests.conftest import DATA, free_port, toy_turtle, wait_http

TTL = {"Content-Type": "text/turtle"}
SENTENCE = span("Marie Curie lectured on radioactivity at the Sorbonne.", "Marie Curie", "Sorbonne")
ZQX = {"id": "ex:zqx", "label": "zqx", "description": "qvb"}  # side information that says nothing
EXAMPLES = [span("Marie Curie lectured on radioactivity at the Sorbonne.", "Marie Curie", "Sorbonne"),
            span("Pierre Curie lectured on magnetism at the Sorbonne.", "Pierre Curie", "Sorbonne"),
            span("Niels Bohr lectured on atoms at Copenhagen.", "Niels Bohr", "Copenhagen")]


@contextmanager
def serving(store: str, data_dir: Path, *extra: str):
    """`kgrel serve` over `store`; yields its base URL."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([*KGREL, "serve", "--port", str(port), "--store", store, "--data-dir", str(data_dir),
                             *extra], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def score(url: str, relation: str, candidates: list[str]) -> float:
    r = httpx.post(url + "/predict", json={**SENTENCE, "candidates": candidates, "top_k": len(candidates),
                                           "threshold": 0}, timeout=60)
    assert r.status_code == 200, r.text
    return next(p["score"] for p in r.json()["predictions"] if p["curie"] == relation)


def wait_job(url: str, status_url: str, timeout: float = 180) -> dict:
    deadline = time.time() + timeout
    while (job := httpx.get(url + status_url, timeout=30).json())["status"] in ("queued", "running"):
        assert time.time() < deadline, job
        time.sleep(0.3)
    return job


def test_two_workers_over_one_store_see_each_others_writes_and_run_each_job_once(oxigraph_server, tmp_path):
    store = oxigraph_server + "/query"
    with ExitStack() as stack:
        (one, proc_one), (two, proc_two) = (stack.enter_context(serving(store, tmp_path / "var")) for _ in range(2))
        wait_http(one + "/health", proc=proc_one)
        wait_http(two + "/health", proc=proc_two)
        assert httpx.get(one + "/health").json()["worker"] != httpx.get(two + "/health").json()["worker"]
        # Both have built their prototypes (of an empty graph). Worker one ingests and registers a relation;
        # worker two knows the prefix ex: and the relation at its next request.
        for body in ((DATA / "ontology.ttl").read_bytes(), toy_turtle(held_out=(0,)).encode()):
            assert httpx.post(one + "/graph/triples", content=body, headers=TTL, timeout=60).status_code == 200
        assert httpx.post(one + "/relations", json=ZQX).status_code == 201
        candidates = ["ex:zqx", "ex:employer", "ex:spouse"]
        before = score(two, "ex:zqx", candidates)
        # Examples added through worker one are used by the next prediction on worker two.
        for example in EXAMPLES:
            assert httpx.post(one + "/relations/ex:zqx/examples", json=example, timeout=60).status_code == 201
        after_two, after_one = score(two, "ex:zqx", candidates), score(one, "ex:zqx", candidates)
        # The examples move a made-up relation's probability from near zero by an order of magnitude (the
        # calibration is learnt on documents, where most pairs state nothing, so not past a fixed margin).
        assert after_two > 10 * before, (before, after_two)
        assert abs(after_two - after_one) < 1e-4  # the same prototypes on both workers
        # A graph-training job started on worker one runs there once: worker two refuses a second, answers
        # for the first, and serves its embeddings when it is done.
        r = httpx.post(one + "/kg/train", json={"rank": 16, "epochs": 40}, timeout=60)
        assert r.status_code == 202, r.text
        status_url = r.json()["status_url"]
        busy = httpx.post(two + "/kg/train", json={"rank": 16, "epochs": 5}, timeout=60)
        assert busy.status_code == 409 and "already running" in busy.json()["detail"]
        job = wait_job(two, status_url)
        assert job["status"] == "done" and job["worker"].endswith(f":{proc_one.pid}"), job
        assert httpx.get(two + "/health").json()["kg_embeddings"]["entities"] == job["result"]["entities"]
        r = httpx.get(two + "/kg/predict-links", params={"head": "ex:p0", "relation": "ex:livesIn", "k": 1})
        assert r.status_code == 200 and r.json()[0]["curie"] == "ex:paris"
        # An extraction job started on worker two is followed, and its facts fetched, through worker one.
        documents = [{"id": f"doc-{i}", "text": "Marie Curie married Pierre Curie in 1895."} for i in range(3)]
        # (Spouse is a relation the shipped model never trained on: it scores under 0.5, so a lower threshold.)
        r = httpx.post(two + "/extract/jobs", json={"documents": documents, "ingest": True, "threshold": 0.2},
                       timeout=60)
        assert r.status_code == 202, r.text
        job = wait_job(one, r.json()["status_url"])
        assert job["status"] == "done" and job["result"]["documents"] == 3 and job["result"]["facts"] >= 3, job
        facts = httpx.get(one + job["result"]["facts_url"])
        assert facts.status_code == 200 and facts.headers["content-type"] == "application/n-quads"
        assert facts.text.count("urn:kgrel:graph:extraction") >= job["result"]["facts"]


def test_serve_with_two_worker_processes(oxigraph_server, tmp_path):
    refused = run("serve", "--workers", "2", "--data-dir", str(tmp_path / "embedded"))
    assert refused.returncode == 2 and "SPARQL server" in refused.stderr
    with serving(oxigraph_server + "/query", tmp_path / "var", "--workers", "2") as (url, proc):
        wait_http(url + "/health", proc=proc)
        assert httpx.post(url + "/graph/triples", content=(DATA / "ontology.ttl").read_bytes(), headers=TTL,
                          timeout=60).status_code == 200
        assert httpx.post(url + "/relations", json=ZQX).status_code == 201
        for example in EXAMPLES:
            assert httpx.post(url + "/relations/ex:zqx/examples", json=example, timeout=60).status_code == 201
        # Fresh connections land on either worker; every answer is built from the same examples.
        scores, workers = set(), set()
        for _ in range(8):
            with httpx.Client() as fresh:
                scores.add(round(score(url, "ex:zqx", ["ex:zqx", "ex:employer"]), 4))
                workers.add(fresh.get(url + "/health").json()["worker"])
        assert len(scores) == 1, scores
        assert workers and proc.pid not in workers  # answered by worker processes, not the parent
