"""What every background-job route shares: a job's status by id, whichever worker runs it."""

from __future__ import annotations

from kgrel.app.schemas.jobs import JobOut
from kgrel.app.services import KgrelService
from kgrel.kg.errors import NotFound


def job_status(service: KgrelService, job_id: str, kind: str, what: str) -> JobOut:
    job = service.jobs.get(job_id)
    if job is None or job.kind != kind:
        raise NotFound(f"no {what} job {job_id[:40]}")
    return JobOut(**job.as_dict())
