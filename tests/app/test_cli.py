"""The `kgrel` command line, run as real subprocesses, and `kgrel serve` over a real socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.app.test_api_relations import span
from tests.conftest import DATA, UNTRAINED, free_port, wait_http

KGREL = [sys.executable, "-m", "kgrel.app.cli"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*KGREL, *args], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_ingest_then_predict_in_process(tmp_path):
    data_dir = str(tmp_path / "var")
    r = run("ingest", str(DATA / "ontology.ttl"), "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    assert last_json(r.stdout)["added"] > 20
    bad = tmp_path / "bad.nt"
    bad.write_text("<http://x.org/a> <http://x.org/b> <http://x.org/c> .\n<http://x.org/a> <http://x.org/b> .\n")
    r = run("ingest", str(bad), "--data-dir", data_dir)
    assert r.returncode != 0 and "line 2" in r.stderr and "nothing was inserted" in r.stderr
    query = [span("Rome is the capital of Italy.", "Italy", "Rome")]
    r = run("predict", "--data-dir", data_dir, "--model", str(UNTRAINED), stdin=json.dumps(query))
    assert r.returncode == 0, r.stderr
    [result] = json.loads(r.stdout)
    assert result["predictions"][0]["curie"] == "ex:capital"
    r = run("predict", "--data-dir", data_dir, stdin='{"text": "no spans"}')
    assert r.returncode != 0 and "text, head and tail" in r.stderr


def test_eval_fewshot_and_zeroshot_on_a_fixture():
    common = ["--data", str(DATA / "tiny_fewrel.json"), "--model", str(UNTRAINED), "--device", "cpu"]
    r = run("eval", "fewshot", *common, "--n-way", "5", "--k-shot", "1", "--episodes", "40", "--seed", "3",
            "--side-info", str(DATA / "tiny_side_info.json"))
    assert r.returncode == 0, r.stderr
    result = last_json(r.stdout)
    assert {"task", "n_way", "k_shot", "episodes", "accuracy", "ci95"} <= set(result)
    assert (result["task"], result["n_way"], result["k_shot"], result["episodes"]) == ("fewshot", 5, 1, 40)
    assert result["accuracy"] > 0.6  # chance is 0.2 on these clear sentences
    assert "5-way 1-shot" in r.stderr or "encoding" in r.stderr  # progress goes to stderr
    r = run("eval", "fewshot", *common, "--n-way", "3", "--k-shot", "1", "--episodes", "200", "--seed", "3",
            "--side-info", str(DATA / "tiny_side_info.json"), "--nota-rate", "0.5")
    assert r.returncode == 0, r.stderr
    nota = last_json(r.stdout)
    assert nota["nota_rate"] == 0.5 and abs(nota["nota_queries"] / 600 - 0.5) < 0.06
    assert 0 <= nota["nota_recall"] <= 1 and 0 <= nota["present_accuracy"] <= 1
    r = run("eval", "zeroshot", *common, "--side-info", str(DATA / "tiny_side_info.json"))
    assert r.returncode == 0, r.stderr
    result = last_json(r.stdout)
    assert (result["task"], result["relations"], result["instances"]) == ("zeroshot", 6, 24)
    assert result["accuracy"] > 0.6 and 0 < result["macro_f1"] <= 1
    # Among N relations at a time: with N = all of them every subset is the whole file.
    whole = result
    r = run("eval", "zeroshot", *common, "--side-info", str(DATA / "tiny_side_info.json"), "--n-way", "6",
            "--subsets", "3")
    result = last_json(r.stdout)
    assert (result["n_way"], result["subsets"]) == (6, 3)
    assert result["accuracy"] == pytest.approx(whole["accuracy"])
    assert result["macro_f1"] == pytest.approx(whole["macro_f1"])
    r = run("eval", "zeroshot", *common, "--side-info", str(DATA / "tiny_side_info.json"), "--n-way", "7")
    assert r.returncode != 0 and "n_way" in r.stderr
    r = run("eval", "zeroshot", "--data", str(DATA / "tiny_fewrel.json"), "--side-info", str(DATA / "ontology.ttl"))
    assert r.returncode != 0


def test_serve_over_a_socket_and_ingest_through_it(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KGREL_MODEL": str(UNTRAINED)}
    proc = subprocess.Popen([*KGREL, "serve", "--port", str(port), "--data-dir", str(tmp_path / "var")],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_http(url + "/health", proc=proc)
        assert httpx.get(url + "/health").json()["store_reachable"] is True
        r = run("ingest", str(DATA / "ontology.ttl"), "--url", url)
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["added"] > 20
        # While the server holds the store, opening it directly fails with a hint, and a second server
        # on the same data dir says so in one line (no traceback).
        r = run("ingest", str(DATA / "ontology.ttl"), "--data-dir", str(tmp_path / "var"))
        assert r.returncode != 0 and "--url" in r.stderr
        r = run("serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "var"), env=env)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "another kgrel process" in \
            r.stderr.lower(), r.stderr
        body = span("Pierre Curie married Marie Skłodowska in 1895.", "Pierre Curie", "Marie Skłodowska")
        r = httpx.post(url + "/predict", json=body, timeout=60)
        assert r.status_code == 200 and r.json()["predictions"][0]["curie"] == "ex:spouse"
        r = httpx.post(url + "/predict", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 422
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("argv", [["eval"], ["nonsense"]])
def test_usage_errors_exit_nonzero(argv):
    r = run(*argv)
    assert r.returncode != 0 and "usage" in r.stderr


# Classes of the fixture's mentions: the graph knows each entity's type, not the sentences' facts.
FIXTURE_TYPES = {"R_spouse": ("human", "human"), "R_birthplace": ("human", "city"),
                 "R_author": ("literary work", "human"), "R_employer": ("human", "business"),
                 "R_capital": ("country", "city"), "R_team": ("human", "sports team")}


def linked_fixture(tmp_path) -> tuple[Path, Path]:
    """tiny_fewrel.json with Wikidata-style ids on every mention, and a graph typing those entities."""
    data = json.loads((DATA / "tiny_fewrel.json").read_text())
    ids: dict[str, str] = {}
    lines = ["@prefix wd: <http://www.wikidata.org/entity/> .",
             "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> ."]
    classes = {name: f"Q9{n:03d}" for n, name in enumerate(sorted({c for pair in FIXTURE_TYPES.values()
                                                                    for c in pair}))}
    lines += [f'wd:{q} rdfs:label "{name}"@en .' for name, q in classes.items()]
    for rel, items in data.items():
        for item in items:
            for key, cls in zip(("h", "t"), FIXTURE_TYPES[rel], strict=True):
                name = item[key][0]
                qid = ids.setdefault(name, f"Q{100 + len(ids)}")
                item[key][1] = qid
                lines.append(f"wd:{qid} a wd:{classes[cls]} .")
    fewrel = tmp_path / "linked.json"
    fewrel.write_text(json.dumps(data))
    graph = tmp_path / "graph.ttl"
    graph.write_text("\n".join(lines) + "\n")
    return fewrel, graph


def test_eval_with_and_without_the_graph(tmp_path):
    fewrel, graph = linked_fixture(tmp_path)
    common = ["--data", str(fewrel), "--model", str(UNTRAINED), "--device", "cpu",
              "--side-info", str(DATA / "tiny_side_info.json"), "--kg", str(graph), "--kg-rank", "8",
              "--kg-epochs", "5"]
    with_graph = run("eval", "zeroshot", *common)
    assert with_graph.returncode == 0, with_graph.stderr
    without = run("eval", "zeroshot", *common, "--no-kg")
    assert without.returncode == 0, without.stderr
    g, n = last_json(with_graph.stdout), last_json(without.stdout)
    assert g["graph"] is True and n["graph"] is False and "graph_coverage" not in n
    assert "kg training" in with_graph.stderr  # embeddings were trained for the full graph evidence
    assert g["graph_coverage"]["typed_head_or_tail"] == 1.0  # every mention is linked by its id
    # Types separate these relations, so the graph can only help zero-shot here.
    assert g["accuracy"] >= n["accuracy"]
    fewshot = run("eval", "fewshot", *common, "--n-way", "5", "--k-shot", "1", "--episodes", "20", "--seed", "1")
    assert fewshot.returncode == 0, fewshot.stderr
    assert last_json(fewshot.stdout)["graph"] is True


def test_adapt_calibrate_only_refits_on_the_store_examples_and_lists_the_model(tmp_path, model):
    from kgrel.app.config import Settings
    from tests.app.test_api_model import register_biomedical_relations
    from tests.conftest import make_client

    data_dir = tmp_path / "var"
    r = run("adapt", "--calibrate-only", "--data-dir", str(data_dir))
    assert r.returncode != 0 and "at least 3 relations" in r.stderr, r.stderr
    with make_client(Settings(data_dir=data_dir), model) as client:
        register_biomedical_relations(client)
    r = run("adapt", "--calibrate-only", "--data-dir", str(data_dir))
    assert r.returncode == 0, r.stderr
    result = last_json(r.stdout)
    assert result["task"] == "calibrate" and result["examples"] == 40 and result["from"] == "base"
    listed = last_json(run("adapt", "--list", "--data-dir", str(data_dir)).stdout)
    assert [(m["name"], m["active"]) for m in listed] == [("base", False), (result["model"], True)]
