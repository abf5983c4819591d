"""Shared fixtures: the real packaged encoder (loaded once), real Oxigraph stores in temp dirs, real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
import torch
from fastapi.testclient import TestClient

from kgrel.app.config import SHIPPED, Settings
from kgrel.app.main import create_app
from kgrel.kg.ingest import ingest
from kgrel.kg.store import EmbeddedStore
from kgrel.models.relation.model import RelationModel

DATA = Path(__file__).resolve().parent / "data"
UNTRAINED = SHIPPED / "models" / "minilm-untrained"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def untrained_model() -> RelationModel:
    """The untrained packaged all-MiniLM-L6-v2 with its shipped calibration."""
    return RelationModel.load(UNTRAINED, device="cpu")


@pytest.fixture(scope="session")
def model(untrained_model) -> RelationModel:
    """The model the API serves by default."""
    location = Settings().model_location()
    if location == str(UNTRAINED):
        return untrained_model
    return RelationModel.load(location, device="cpu")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "var")


def make_client(settings: Settings, model: RelationModel) -> TestClient:
    return TestClient(create_app(settings, model=model))


@pytest.fixture
def client(settings, model):
    with make_client(settings, model) as c:
        yield c


@pytest.fixture
def onto_client(client):
    """A client whose store holds the small test ontology (6 relations, a few entities)."""
    r = client.post("/graph/triples", content=(DATA / "ontology.ttl").read_bytes(),
                    headers={"Content-Type": "text/turtle"})
    assert r.status_code == 200, r.text
    return client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


@pytest.fixture
def oxigraph_server(tmp_path):
    """A real Oxigraph SPARQL server (from the `oxigraph` PyPI package), started by the test run itself."""
    import shutil

    binary = shutil.which("oxigraph") or str(Path(os.sys.executable).parent / "oxigraph")
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--location", str(tmp_path / "remote"), "--bind",
                             f"127.0.0.1:{port}", "--union-default-graph"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/query?query=ASK%7B%7D", timeout=30, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


VIRTUOSO_INI = """[Database]
DatabaseFile = {dir}/virtuoso.db
ErrorLogFile = {dir}/virtuoso.log
TransactionFile = {dir}/virtuoso.trx
xa_persistent_file = {dir}/virtuoso.pxa
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {dir}/virtuoso-temp.db
TransactionFile = {dir}/virtuoso-temp.trx
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
NumberOfBuffers = 10000
MaxDirtyBuffers = 6000
DirsAllowed = ., {dir}

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {dir}
ServerThreads = 4

[SPARQL]
ResultSetMaxRows = 1000000
"""


@pytest.fixture
def virtuoso_server(tmp_path):
    """A real OpenLink Virtuoso (Debian's virtuoso-opensource, which `make test` installs), started by the
    test, with SPARQL updates granted to its anonymous endpoint user. Yields the SPARQL endpoint URL."""
    import shutil

    binary, isql = shutil.which("virtuoso-t"), shutil.which("isql-vt")
    if binary is None or isql is None:
        pytest.fail("Virtuoso is not installed: `make test` installs Debian's virtuoso-opensource-7-bin")
    folder = tmp_path / "virtuoso"
    folder.mkdir()
    http_port, sql_port = free_port(), free_port()
    ini = folder / "virtuoso.ini"
    ini.write_text(VIRTUOSO_INI.format(dir=folder, sql_port=sql_port, http_port=http_port))
    proc = subprocess.Popen([binary, "-c", str(ini), "+foreground"], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http_port}/sparql"
    try:
        wait_http(url + "?query=ASK%7B%7D", timeout=60, proc=proc)
        subprocess.run([isql, f"127.0.0.1:{sql_port}", "dba", "dba", 'exec=GRANT SPARQL_UPDATE TO "SPARQL";'],
                       check=True, capture_output=True, timeout=60)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


# A toy graph for graph export and link prediction -----------------------------------------

EX = "http://example.org/"
CITIES = ["paris", "rome", "oslo"]


def toy_turtle(people: int = 30, held_out: tuple[int, ...] = ()) -> str:
    """People who live and work in the same city; `held_out` people have no livesIn fact."""
    lines = ["@prefix ex: <http://example.org/> .",
             "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .",
             "ex:Person rdfs:subClassOf ex:Agent . ex:City rdfs:label \"city\" ."]
    for c in CITIES:
        lines.append(f"ex:{c} a ex:City ; rdfs:label \"{c.title()}\" .")
    for i in range(people):
        city = CITIES[i % 3]
        lines.append(f"ex:p{i} a ex:Person ; rdfs:label \"Person {i}\" ; ex:worksIn ex:{city} .")
        if i not in held_out:
            lines.append(f"ex:p{i} ex:livesIn ex:{city} .")
    return "\n".join(lines)


@pytest.fixture
def toy_store(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    ingest(store, toy_turtle(held_out=(0, 1, 2, 3, 4, 5)).encode(), ox.RdfFormat.TURTLE)
    yield store
    store.close()
