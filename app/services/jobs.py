"""Background jobs (graph training, adapting the model, extraction): one thread each, progress readable
while they run.

Over a shared store (several workers over one SPARQL server) a job is also recorded in the graph
(`kg.job_board`): one job of a kind runs at a time across all workers, and any worker answers for it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from kgrel.kg.errors import NotFound
from kgrel.kg.job_board import LEASE_S, JobBoard

log = logging.getLogger(__name__)
HEARTBEAT_S = LEASE_S / 6  # how often a running job renews its lease and publishes its progress


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


class JobBusy(Exception):
    """A job of the same kind is already running."""


@dataclass
class Job:
    id: str
    kind: str
    status: str = "queued"  # queued | running | done | failed
    progress: dict = field(default_factory=dict)
    result: dict | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    worker: str | None = None  # host:pid of the worker running it

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "status": self.status, "progress": self.progress,
                "result": self.result, "error": self.error, "created": self.created, "started": self.started,
                "finished": self.finished, "worker": self.worker}


class JobRunner:
    def __init__(self, board: JobBoard | None = None):
        self.board = board
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._publishing = threading.Lock()

    def start(self, kind: str, work: Callable[[Callable[[dict], None]], dict], job_id: str | None = None) -> Job:
        """Run `work(report_progress)` in a thread; refuses a second job of the same kind at a time (on
        any worker, over a shared store). `job_id` (from `new_job_id`) when the work must know it."""
        busy = JobBusy(f"a {kind} job is already running; wait for it (GET its status) before starting another")
        with self._lock:
            if any(j.kind == kind and j.status in ("queued", "running") for j in self._jobs.values()):
                raise busy
            job = Job(id=job_id or new_job_id(), kind=kind, worker=self.worker)
            if self.board is not None:
                if not self.board.claim(kind, job.id):
                    raise busy
                try:
                    self.board.heartbeat(job.id, job.as_dict())
                except Exception:
                    self.board.release(kind, job.id)  # best effort; else the lease lapses in LEASE_S
                    raise
            self._jobs[job.id] = job

        last_published = [0.0]

        def progress(update: dict) -> None:
            job.progress = dict(update)
            if self.board is not None and time.monotonic() - last_published[0] >= 1.0:
                last_published[0] = time.monotonic()
                self._publish(job)

        def run() -> None:
            job.status, job.started = "running", time.time()
            stop = threading.Event()
            if self.board is not None:
                self._publish(job)
                threading.Thread(target=self._keep_alive, args=(job, stop), name=f"kgrel-lease-{job.id}",
                                 daemon=True).start()
            try:
                job.result = work(progress)
                job.status = "done"
            except Exception as e:  # a failed job reports why instead of dying silently
                log.error("job %s failed: %s", job.id, traceback.format_exc())
                job.error, job.status = f"{type(e).__name__}: {e}", "failed"
            finally:
                job.finished = time.time()
                stop.set()
                if self.board is not None:
                    self._publish(job, release=True)

        threading.Thread(target=run, name=f"kgrel-{kind}-{job.id}", daemon=True).start()
        return job

    def _keep_alive(self, job: Job, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            self._publish(job)

    def _publish(self, job: Job, release: bool = False) -> None:
        try:
            with self._publishing:  # a record is replaced by delete + insert: one at a time
                self.board.heartbeat(job.id, job.as_dict())
                if release:
                    self.board.release(job.kind, job.id)
        except Exception:  # noqa: BLE001 - the job goes on; its lease lapses if the store stays away
            log.exception("could not record job %s in the store", job.id)

    def of_kind(self, job_id: str, kind: str, what: str) -> Job:
        """The job `job_id` if it is one of `kind`, on whichever worker it runs; 404 otherwise."""
        job = self.get(job_id)
        if job is None or job.kind != kind:
            raise NotFound(f"no {what} job {job_id[:40]}")
        return job

    def get(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None and self.board is not None:
            record = self.board.record(job_id)
            if record is not None:
                job = Job(**{k: v for k, v in record.items() if k in Job.__dataclass_fields__})
        return job

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends (for the CLI and tests)."""
        deadline = None if timeout is None else time.time() + timeout
        job = self._jobs[job_id]
        while job.status in ("queued", "running"):
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout}s")
            time.sleep(0.1)
        return job
