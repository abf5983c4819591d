"""Background jobs shared by several kgrel workers over one SPARQL server, recorded in kgrel's jobs graph.

A job of a kind (graph training, adapting the model, an extraction) must run once, whichever worker
was asked, and its progress must be readable from every worker. So a worker starting one first takes
the kind's lock in the graph: a holder triple with a heartbeat it renews while the job runs. A lock
whose heartbeat is older than `LEASE_S` belongs to a worker that died, and is taken over.

Taking the lock: read the holders; none alive, so replace them by ourselves (one update); read again.
Two workers can both get past the first read, but each reads again after its own write, and the one
that reads last sees the other: it steps back. So at most one runs, the price being that both may
step back (and report busy) in a tie.

Each job's record (status, progress, result as JSON) sits beside the lock, replaced as it changes.
"""

from __future__ import annotations

import json
import re
import time

from kgrel.kg.namespaces import KGREL
from kgrel.kg.store import KnowledgeStore

JOBS_GRAPH = "urn:kgrel:graph:jobs"
LEASE_S = 60.0
_JOB_ID = re.compile(r"[0-9a-f]{1,64}")
_LOCK = "urn:kgrel:lock:"  # + kind
_JOB = "urn:kgrel:job:"  # + job id
_HOLDER, _HEARTBEAT, _RECORD = KGREL + "holder", KGREL + "heartbeat", KGREL + "record"


def _literal(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid SPARQL string literal (escapes included)


class JobBoard:
    def __init__(self, store: KnowledgeStore):
        self.store = store

    def holders(self, kind: str) -> dict[str, float]:
        """The jobs holding the lock of `kind`, with their last heartbeat (seconds since the epoch)."""
        rows = self.store.select(f"SELECT ?job ?beat WHERE {{ GRAPH <{JOBS_GRAPH}> {{ "
                                 f"<{_LOCK}{kind}> <{_HOLDER}> ?job . ?job <{_HEARTBEAT}> ?beat }} }}")
        return {row["job"].value[len(_JOB):]: float(row["beat"].value) for row in rows}

    def claim(self, kind: str, job_id: str, now: float | None = None) -> bool:
        """Take the lock of `kind` for `job_id`; False when a live job holds it."""
        now = time.time() if now is None else now
        holders = self.holders(kind)
        if any(now - beat < LEASE_S for other, beat in holders.items() if other != job_id):
            return False
        gone = " ".join(f"<{_LOCK}{kind}> <{_HOLDER}> <{_JOB}{other}> ." for other in holders)
        self.store.update((f"DELETE DATA {{ GRAPH <{JOBS_GRAPH}> {{ {gone} }} }} ;\n" if gone else "")
                          + f"INSERT DATA {{ GRAPH <{JOBS_GRAPH}> {{ <{_LOCK}{kind}> <{_HOLDER}> <{_JOB}{job_id}> . "
                          f'<{_JOB}{job_id}> <{_HEARTBEAT}> "{now!r}" }} }}')
        if set(self.holders(kind)) - {job_id}:  # another worker claimed at the same time: step back
            self.release(kind, job_id)
            return False
        return True

    def heartbeat(self, job_id: str, record: dict | None = None) -> None:
        """Renew the job's lease, and replace its record when given."""
        beat = f'<{_JOB}{job_id}> <{_HEARTBEAT}> "{time.time()!r}" .'
        body = beat if record is None else beat + f" <{_JOB}{job_id}> <{_RECORD}> {_literal(json.dumps(record))} ."
        drop = f"DELETE WHERE {{ GRAPH <{JOBS_GRAPH}> {{ <{_JOB}{job_id}> <{_HEARTBEAT}> ?b }} }} ;\n"
        if record is not None:
            drop += f"DELETE WHERE {{ GRAPH <{JOBS_GRAPH}> {{ <{_JOB}{job_id}> <{_RECORD}> ?r }} }} ;\n"
        self.store.update(drop + f"INSERT DATA {{ GRAPH <{JOBS_GRAPH}> {{ {body} }} }}")

    def release(self, kind: str, job_id: str) -> None:
        held = f"<{_LOCK}{kind}> <{_HOLDER}> <{_JOB}{job_id}> ."
        self.store.update(f"DELETE DATA {{ GRAPH <{JOBS_GRAPH}> {{ {held} }} }}")

    def record(self, job_id: str) -> dict | None:
        """The job's last published record; None for an unknown job. A job still running by its record
        whose worker stopped renewing its lease is reported failed."""
        if not _JOB_ID.fullmatch(job_id):  # only ids kgrel makes reach the query text
            return None
        rows = self.store.select(f"SELECT ?r ?beat WHERE {{ GRAPH <{JOBS_GRAPH}> {{ <{_JOB}{job_id}> <{_RECORD}> ?r "
                                 f"OPTIONAL {{ <{_JOB}{job_id}> <{_HEARTBEAT}> ?beat }} }} }}")
        if not rows:
            return None
        record = json.loads(rows[0]["r"].value)
        beat = rows[0].get("beat")
        lapsed = beat is None or time.time() - float(beat.value) > LEASE_S
        if record.get("status") in ("queued", "running") and lapsed:
            record.update(status="failed", error="the worker running this job stopped before it finished")
        return record
