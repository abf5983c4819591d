"""`kgrel eval documents` as a user runs it: the documents protocol through the service, in process and over HTTP."""

from __future__ import annotations

from tests.app.test_cli import last_json, run
from tests.conftest import DATA

ARGS = ["eval", "documents", "--docs", str(DATA / "tiny_docred.json"),
        "--side-info", str(DATA / "tiny_docred_side_info.json"), "--eval-count", "1", "--shots", "0,1"]


def test_the_same_figures_in_process_and_through_post_extract(tmp_path):
    here = run(*ARGS, "--data-dir", str(tmp_path / "a"))
    assert here.returncode == 0, here.stderr[-2000:]
    served = run(*ARGS, "--http", "--data-dir", str(tmp_path / "b"))
    assert served.returncode == 0, served.stderr[-2000:]
    here, served = last_json(here.stdout), last_json(served.stdout)
    assert (here["read_through"], served["read_through"]) == ("in-process", "http")
    assert here["documents"] == 1 and set(here["by_shots"]) == {"0", "1"}
    for k in ("0", "1"):
        mine, theirs = here["by_shots"][k], served["by_shots"][k]
        assert mine["groups"]["all"]["gold"] > 0 and mine["curve"]["all"][0]["precision"] > 0  # facts came back
        # The same facts with the same scores: every count and every point of the curve agree.
        assert mine["groups"] == theirs["groups"] and mine["curve"] == theirs["curve"]


def test_a_missing_documents_file_is_named():
    done = run("eval", "documents", "--docs", "no/such.json", "--side-info", str(DATA / "tiny_docred_side_info.json"))
    assert done.returncode != 0 and "no/such.json" in done.stderr
