"""Run one function in a forked child with a deadline, a memory cap and cancellation.

Oxigraph's Python API cannot interrupt a query (upstream issue 1926): a runaway cartesian product
keeps a core busy, and its memory grows, long after the client has gone. A forked child shares the
open store copy-on-write, so it can run the query as the parent would, and it can be killed: at
the deadline, when the caller cancels (the client disconnected), or by the kernel when it passes
its memory or CPU limit. The parent only waits on a pipe, so a server with queries in flight
still answers, and stops, at once.

A fork copies only the forking thread: a lock another thread held at that instant (RocksDB's, in a
background flush or in another request's read) stays held in the child forever, and the child
blocks on it. Such a child sleeps and uses no CPU, which a working query never does for long (it
computes, or waits on the disk in state D); the parent watches for that, kills it, and forks again.

Linux only (fork of a threaded process is not safe on macOS); elsewhere `available()` is False and
callers run the function in-process.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import pickle
import resource
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from kgrel.kg.errors import KGError

_PR_SET_PDEATHSIG = 1
_POLL_S = 0.1
_OUT_OF_MEMORY = 3  # the child's exit status when the work raised MemoryError
_STALLED_S = 1.0  # a child asleep this long without using any CPU is blocked on a lock it will never get
_FORKS = 3  # tries before a stalled child is reported as a failure
log = logging.getLogger(__name__)


class TimedOut(KGError):
    """The work did not finish within its time limit, and was stopped."""


class OutOfMemory(KGError):
    """The work needed more memory than its limit, and was stopped."""


class WorkFailed(KGError):
    """The child died without an answer, for no reason the caller caused (answered 503)."""


class Cancelled(KGError):
    """The caller gave up (the client went away); the work was stopped."""


def available() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def run(work: Callable[[], Any], *, timeout_s: float, memory_mb: int | None = None,
        cancelled: threading.Event | None = None) -> Any:
    """`work()`'s return value, computed in a child process; its exception re-raised here.

    Raises TimedOut after `timeout_s`, Cancelled when `cancelled` is set, OutOfMemory when the child
    dies of its memory cap (`memory_mb` on top of what the process already maps), WorkFailed when
    every try stalled. `work` must compute, not sleep: a child asleep for a second counts as stalled."""
    deadline = time.monotonic() + timeout_s
    for attempt in range(1, _FORKS + 1):
        try:
            payload = _fork_and_collect(work, deadline, cancelled, timeout_s, memory_mb)
            break
        except _Stalled as e:
            log.warning("query process %d stalled (asleep without using CPU for %g s, a lock held at the fork); "
                        "try %d of %d", e.pid, _STALLED_S, attempt, _FORKS)
    else:
        raise WorkFailed("the query process stalled on every try; the query was not answered, try it again")
    kind, value = pickle.loads(payload)
    if kind == "error":
        raise value
    return value


class _Stalled(Exception):
    def __init__(self, pid: int):
        self.pid = pid


def _fork_and_collect(work: Callable[[], Any], deadline: float, cancelled: threading.Event | None,
                      timeout_s: float, memory_mb: int | None) -> bytes:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: do the work, send the outcome, leave without running any cleanup
        os.close(read_end)
        _child(work, write_end, max(deadline - time.monotonic(), 0.1), memory_mb)
    os.close(write_end)
    try:
        return _collect(pid, read_end, deadline, cancelled, timeout_s)
    finally:
        os.close(read_end)


def _collect(pid: int, fd: int, deadline: float, cancelled: threading.Event | None, timeout_s: float) -> bytes:
    chunks: list[bytes] = []
    watch = _StallWatch(pid)
    while True:
        if cancelled is not None and cancelled.is_set():
            _kill(pid)
            raise Cancelled("the client went away; the query was stopped")
        left = deadline - time.monotonic()
        if left <= 0:
            _kill(pid)
            raise TimedOut(f"the query did not finish within {timeout_s:g} s and was stopped")
        ready, _, _ = select.select([fd], [], [], min(left, _POLL_S))
        if not ready:
            if not chunks and watch.stalled():
                _kill(pid)
                raise _Stalled(pid)
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if chunks and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return b"".join(chunks)
    signalled = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    if signalled in (signal.SIGXCPU, signal.SIGKILL) and time.monotonic() >= deadline - 1:
        raise TimedOut(f"the query did not finish within {timeout_s:g} s and was stopped")
    # Python's MemoryError exits with _OUT_OF_MEMORY; Rust aborts (SIGABRT) when an allocation fails.
    if signalled == signal.SIGABRT or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == _OUT_OF_MEMORY):
        raise OutOfMemory("the query needed more memory than its limit and was stopped; add LIMIT, or narrow "
                          "the patterns")
    how = f"signal {signalled}" if signalled is not None else f"exit status {os.WEXITSTATUS(status)}"
    log.error("query process %d failed (%s) after sending %d bytes", pid, how, sum(map(len, chunks)))
    raise WorkFailed(f"the query process failed ({how}); the query was not answered, try it again")


class _StallWatch:
    """Tells a child blocked for good (asleep, its CPU time unchanged for _STALLED_S) from a working one."""

    def __init__(self, pid: int):
        self._stat = f"/proc/{pid}/stat"
        self._cpu = -1
        self._asleep_since: float | None = None

    def stalled(self) -> bool:
        try:
            with open(self._stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after "pid (comm)", which may hold spaces
        except OSError:  # no /proc: never call a child stalled
            return False
        state, cpu = fields[0], int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
        now = time.monotonic()
        if state != "S" or cpu != self._cpu:
            self._cpu, self._asleep_since = cpu, None
            return False
        if self._asleep_since is None:
            self._asleep_since = now
        return now - self._asleep_since >= _STALLED_S


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _child(work: Callable[[], Any], fd: int, timeout_s: float, memory_mb: int | None) -> None:
    code = 0
    try:
        _limit_self(timeout_s, memory_mb)
        try:
            outcome = ("ok", work())
        except MemoryError:
            os._exit(_OUT_OF_MEMORY)
        except Exception as e:  # noqa: BLE001 - every error travels back to be raised in the parent
            outcome = ("error", e)
        try:
            payload = pickle.dumps(outcome)
        except Exception as e:  # noqa: BLE001 - an exception that does not pickle still says what failed
            payload = pickle.dumps(("error", KGError(f"{type(e).__name__}: {e}")))
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:  # noqa: BLE001 - nothing may escape into the parent's code path
        code = 1
    finally:
        os._exit(code)


def _limit_self(timeout_s: float, memory_mb: int | None) -> None:
    # Die with the parent (a kill -9 of the server must not leave queries running) ...
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:
        os._exit(1)
    # ... and within the CPU time of the deadline, should the parent miss it.
    cpu = math.ceil(timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if memory_mb:
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = mapped + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
