"""Background jobs (knowledge-graph training): one thread each, progress readable while they run."""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


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

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "status": self.status, "progress": self.progress,
                "result": self.result, "error": self.error, "created": self.created, "started": self.started,
                "finished": self.finished}


class JobRunner:
    def __init__(self):
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, work: Callable[[Callable[[dict], None]], dict]) -> Job:
        """Run `work(report_progress)` in a thread; refuses a second job of the same kind at a time."""
        with self._lock:
            if any(j.kind == kind and j.status in ("queued", "running") for j in self._jobs.values()):
                raise JobBusy(f"a {kind} job is already running; wait for it (GET its status) before starting another")
            job = Job(id=uuid.uuid4().hex[:12], kind=kind)
            self._jobs[job.id] = job

        def progress(update: dict) -> None:
            job.progress = dict(update)

        def run() -> None:
            job.status, job.started = "running", time.time()
            try:
                job.result = work(progress)
                job.status = "done"
            except Exception as e:  # a failed job reports why instead of dying silently
                log.error("job %s failed: %s", job.id, traceback.format_exc())
                job.error, job.status = f"{type(e).__name__}: {e}", "failed"
            finally:
                job.finished = time.time()

        threading.Thread(target=run, name=f"kgrel-{kind}-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends (for the CLI and tests)."""
        deadline = None if timeout is None else time.time() + timeout
        job = self._jobs[job_id]
        while job.status in ("queued", "running"):
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout}s")
            time.sleep(0.1)
        return job
