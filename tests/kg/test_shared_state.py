"""What several workers over one SPARQL server share through the graph: the version stamp and the job
locks, on each engine kgrel supports (each started by the test)."""

from __future__ import annotations

import pytest

from kgrel.kg import job_board, stamp
from kgrel.kg.job_board import JobBoard
from kgrel.kg.store import open_store


@pytest.fixture(params=["oxigraph", "virtuoso"])
def remote_store(request):
    if request.param == "oxigraph":
        store = open_store(request.getfixturevalue("oxigraph_server") + "/query")
    else:
        store = open_store(request.getfixturevalue("virtuoso_server"), engine="virtuoso")
    yield store
    store.close()


def test_a_write_through_one_watcher_is_seen_by_the_other_once(remote_store):
    one, two = stamp.StampWatcher(remote_store), stamp.StampWatcher(remote_store)
    assert one.changed_elsewhere() == set() and two.changed_elsewhere() == set()
    one.wrote({"relations", "facts"})
    assert one.changed_elsewhere() == set()  # its own write
    assert two.changed_elsewhere() == {"relations", "facts"}
    assert two.changed_elsewhere() == set()  # seen now
    two.wrote({"facts"})
    one.wrote({"labels"})
    assert one.changed_elsewhere() == {"facts"} and two.changed_elsewhere() == {"labels"}
    assert sorted(stamp.read(remote_store)) == ["facts", "labels", "relations"]  # one token per aspect


def test_one_job_of_a_kind_at_a_time_and_a_dead_workers_lock_is_taken_over(remote_store):
    board = JobBoard(remote_store)
    assert board.claim("kg-train", "aaaaaaaaaaaa")
    assert not board.claim("kg-train", "bbbbbbbbbbbb")  # held and alive
    assert board.claim("model-adapt", "cccccccccccc")  # another kind is free
    board.heartbeat("aaaaaaaaaaaa", {"id": "aaaaaaaaaaaa", "kind": "kg-train", "status": "running",
                                     "progress": {"epoch": 3, "note": 'quotes " and \\ survive'}})
    assert board.record("aaaaaaaaaaaa")["progress"] == {"epoch": 3, "note": 'quotes " and \\ survive'}
    assert board.record("dddddddddddd") is None
    # The worker dies: no heartbeat for longer than the lease. Its lock is taken over, its job reported failed.
    assert board.claim("kg-train", "bbbbbbbbbbbb", now=board.holders("kg-train")["aaaaaaaaaaaa"]
                       + job_board.LEASE_S + 1)
    assert set(board.holders("kg-train")) == {"bbbbbbbbbbbb"}
    board.release("kg-train", "bbbbbbbbbbbb")
    assert board.claim("kg-train", "eeeeeeeeeeee")


def test_a_running_job_whose_lease_lapsed_is_reported_failed(remote_store, monkeypatch):
    board = JobBoard(remote_store)
    assert board.claim("extract", "ffffffffffff")
    board.heartbeat("ffffffffffff", {"id": "ffffffffffff", "kind": "extract", "status": "running"})
    assert board.record("ffffffffffff")["status"] == "running"
    real = job_board.time.time
    monkeypatch.setattr(job_board.time, "time", lambda: real() + job_board.LEASE_S + 5)
    lost = board.record("ffffffffffff")
    assert lost["status"] == "failed" and "stopped" in lost["error"]
