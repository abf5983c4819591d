"""Property-based fuzzing of every endpoint, generated from the OpenAPI schema (schemathesis on hypothesis),
against the real server: whatever a client sends, the answer is never a server error.

Bounded: a few derandomised examples per operation, so the run is short and repeatable.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from kgrel.app.config import Settings
from kgrel.app.main import create_app
from tests.app.test_hostile import start_server
from tests.conftest import DATA

# The schema is the app's own (no server needed to build it); each operation is one test.
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}
EXAMPLES = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url = start_server(tmp_path_factory.mktemp("fuzz"), KGREL_API_KEY="", KGREL_READ_KEY="",
                             KGREL_SPARQL_TIMEOUT_S="2")
    try:
        r = httpx.post(url + "/graph/triples", content=(DATA / "ontology.ttl").read_bytes(),
                       headers={"Content-Type": "text/turtle"})
        assert r.status_code == 200
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_every_operation_is_fuzzed():
    assert len(OPERATIONS) >= 30  # the schema lists every route; a route missing from it goes unfuzzed


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_errors(server, label):
    @given(OPERATIONS[label].as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        response = case.call(base_url=server, timeout=60)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
            f"reproduce with: {case.as_curl_command()}")

    fuzz()
