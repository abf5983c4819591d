"""Run one function in a forked child with a deadline, a memory cap and cancellation.

Oxigraph's Python API cannot interrupt a query (upstream issue 1926): a runaway cartesian product
keeps a core busy, and its memory grows, long after the client has gone. A forked child shares the
open store copy-on-write, so it can run the query as the parent would, and it can be killed: at
the deadline, when the caller cancels (the client disconnected), or by the kernel when it passes
its memory or CPU limit. The parent only waits on a pipe, so a server with queries in flight
still answers, and stops, at once.

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
    dies of its memory cap (`memory_mb` on top of what the process already maps)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: do the work, send the outcome, leave without running any cleanup
        os.close(read_end)
        _child(work, write_end, timeout_s, memory_mb)
    os.close(write_end)
    try:
        payload = _collect(pid, read_end, time.monotonic() + timeout_s, cancelled, timeout_s)
    finally:
        os.close(read_end)
    kind, value = pickle.loads(payload)
    if kind == "error":
        raise value
    return value


def _collect(pid: int, fd: int, deadline: float, cancelled: threading.Event | None, timeout_s: float) -> bytes:
    chunks: list[bytes] = []
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
