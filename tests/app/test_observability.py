"""Metrics scraped over HTTP and parsed as Prometheus parses them; request ids and request logs."""

import json
import logging

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kgrel.app.config import Settings
from tests.app.test_hostile import READ, WRITE, start_server
from tests.conftest import make_client


def scrape(url: str, headers: dict) -> dict[str, list]:
    r = httpx.get(url + "/metrics", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(r.text)}


def test_a_scraper_sees_requests_per_route_and_model_and_store_time(tmp_path):
    proc, url = start_server(tmp_path)
    try:
        assert httpx.get(url + "/metrics").status_code == 401  # the read key suffices, no key does not
        body = {"text": "Paris is the capital of France.", "head": {"start": 0, "end": 5},
                "tail": {"start": 24, "end": 30}}
        for _ in range(3):
            assert httpx.post(url + "/predict", json=body, headers=READ).status_code == 200
        assert httpx.get(url + "/graph/sparql", params={"query": "ASK {}"}, headers=READ).status_code == 200
        assert httpx.get(url + "/sessions/abc", headers=READ).status_code == 404
        families = scrape(url, READ)
        requests = {(s.labels["method"], s.labels["route"], s.labels["status"]): s.value
                    for s in families["kgrel_requests"] if s.name == "kgrel_requests_total"}
        assert requests[("POST", "/predict", "200")] == 3
        assert requests[("GET", "/sessions/{session_id}", "404")] == 1  # the template, not the id
        model = {s.labels["operation"]: s.value for s in families["kgrel_model_seconds"]
                 if s.name == "kgrel_model_seconds_count"}
        assert model["predict"] == 3
        store = {s.labels["operation"]: s.value for s in families["kgrel_store_seconds"]
                 if s.name == "kgrel_store_seconds_count"}
        assert store["sparql"] == 1
        [in_flight] = families["kgrel_requests_in_flight"]
        assert in_flight.value == 1  # the scrape itself
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_request_id_is_echoed_and_logged(tmp_path, model, caplog):
    with make_client(Settings(data_dir=tmp_path / "var", api_key="w-key"), model) as c, \
            caplog.at_level(logging.INFO, logger="kgrel.access"):
        r = c.get("/relations", headers={"X-Request-ID": "trace-42", **WRITE})
        assert r.headers["x-request-id"] == "trace-42"
        fresh = c.get("/relations", headers={"X-Request-ID": "bad id with spaces", **WRITE})
        assert fresh.headers["x-request-id"] != "bad id with spaces" and len(fresh.headers["x-request-id"]) == 32
        refused = c.get("/relations")
        assert refused.status_code == 401 and refused.headers["x-request-id"]
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "kgrel.access"]
    mine = [line for line in lines if line["request_id"] == "trace-42"]
    assert mine == [{"request_id": "trace-42", "method": "GET", "route": "/relations", "path": "/relations",
                     "status": 200, "ms": mine[0]["ms"], "role": "write"}]
    assert any(line["status"] == 401 and line["role"] is None for line in lines)
