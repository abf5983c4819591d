"""Work in a forked child: results and errors come back; time, memory and cancellation stop it."""

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
