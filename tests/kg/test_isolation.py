"""Work in a forked child: results and errors come back; time, memory and cancellation stop it."""

import logging
import threading
import time

import pytest

from kgrel.kg import isolation
from kgrel.kg.errors import SparqlError

pytestmark = pytest.mark.skipif(not isolation.available(), reason="forked queries are Linux only")


def test_result_and_error_come_back():
    assert isolation.run(lambda: {"rows": [1, 2, 3]}, timeout_s=10) == {"rows": [1, 2, 3]}

    def fails():
        raise SparqlError("bad query")

    with pytest.raises(SparqlError, match="bad query"):
        isolation.run(fails, timeout_s=10)


def spin():
    while True:
        pass


def test_deadline_stops_the_child():
    start = time.monotonic()
    with pytest.raises(isolation.TimedOut):
        isolation.run(spin, timeout_s=0.5)
    assert time.monotonic() - start < 2


def test_cancel_stops_the_child():
    cancelled = threading.Event()
    threading.Timer(0.3, cancelled.set).start()
    start = time.monotonic()
    with pytest.raises(isolation.Cancelled):
        isolation.run(spin, timeout_s=30, cancelled=cancelled)
    assert time.monotonic() - start < 2


def test_memory_cap_stops_the_child():
    def hog():
        return bytearray(600 * 2**20)

    with pytest.raises(isolation.OutOfMemory):
        isolation.run(hog, timeout_s=30, memory_mb=200)


def work_needing_a_lock_held_elsewhere(seconds: float):
    """Work that needs a lock another thread holds for `seconds` from now (so also at the fork)."""
    lock, held = threading.Lock(), threading.Event()

    def hold():
        with lock:
            held.set()
            time.sleep(seconds)

    threading.Thread(target=hold, daemon=True).start()
    held.wait()

    def needs_the_lock():
        with lock:
            return "answered"

    return needs_the_lock


def test_a_lock_held_at_the_fork_stalls_one_child_and_the_next_answers(caplog):
    """A fork copies a lock another thread holds as held for good (RocksDB's, in the server); the
    stalled child is told from a working one, killed, and the work forked again."""
    needs_the_lock = work_needing_a_lock_held_elsewhere(0.5)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=isolation.__name__):
        assert isolation.run(needs_the_lock, timeout_s=20) == "answered"
    assert time.monotonic() - start < 5, "waited for the deadline instead of forking again"
    assert "stalled" in caplog.text


def test_a_child_stalled_on_every_try_fails_soon_and_says_so():
    needs_the_lock = work_needing_a_lock_held_elsewhere(10)
    start = time.monotonic()
    with pytest.raises(isolation.WorkFailed, match="stalled"):
        isolation.run(needs_the_lock, timeout_s=20)
    assert time.monotonic() - start < 8


def test_a_child_computing_longer_than_the_stall_limit_is_not_taken_for_stalled(caplog):
    with caplog.at_level(logging.WARNING, logger=isolation.__name__), pytest.raises(isolation.TimedOut):
        isolation.run(spin, timeout_s=2.5)
    assert "stalled" not in caplog.text


def test_forked_queries_while_other_threads_read_and_write(tmp_path):
    """A fork can happen while another thread is inside the store; the child must still answer."""
    import pyoxigraph as ox

    from kgrel.kg.sparql import QueryLimits, run_query
    from kgrel.kg.store import EmbeddedStore

    store = EmbeddedStore(tmp_path / "store")
    store.insert([ox.Quad(ox.NamedNode(f"urn:s{i}"), ox.NamedNode("urn:p"), ox.Literal(str(i)), ox.DefaultGraph())
                  for i in range(5000)])
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            store.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")

    def writer():
        for j in range(10**6):
            if stop.is_set():
                return
            store.insert([ox.Quad(ox.NamedNode(f"urn:w{j}:{i}"), ox.NamedNode("urn:q"), ox.Literal(str(i)),
                                  ox.DefaultGraph()) for i in range(100)])

    threads = [threading.Thread(target=reader), threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    try:
        answers = [run_query(store, "SELECT (COUNT(*) AS ?n) WHERE { ?s <urn:p> ?o }", None,
                             limits=QueryLimits(timeout_s=5)) for _ in range(150)]
    finally:
        stop.set()
        for t in threads:
            t.join()
        store.close()
    assert all(b'"5000"' in a.body for a in answers)
