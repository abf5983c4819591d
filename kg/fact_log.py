"""Facts written to an N-Quads file in batches, exactly once across crashes and reruns.

Beside the file, a progress log gets one JSON line per finished batch, appended only after the
batch's quads are on disk: the file's size after the batch and the ids of its documents. A rerun
reads the log, skips those documents, and cuts the file back to the last recorded size, so a batch
cut short by a crash is written again whole, and never twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pyoxigraph as ox


class FactLog:
    def __init__(self, path: Path):
        self.path = path
        self.progress = path.with_name(path.name + ".progress")
        self.done: set[str] = set()
        size = 0
        if self.progress.exists() and path.exists():
            kept = 0
            with open(self.progress, "rb") as f:
                for line in f:
                    try:
                        batch = json.loads(line)
                    except json.JSONDecodeError:
                        break  # the line a crash cut short: its batch is not done
                    if not line.endswith(b"\n"):
                        break
                    size, kept = batch["bytes"], kept + len(line)
                    self.done.update(batch["documents"])
            with open(self.progress, "r+b") as f:
                f.truncate(kept)
        elif self.progress.exists():  # the facts file is gone: start again
            self.progress.unlink()
        if path.exists() and path.stat().st_size > size:
            with open(path, "r+b") as f:
                f.truncate(size)
        self.size = size

    def write(self, documents: Iterable[str], quads: list[ox.Quad]) -> None:
        """Append one batch: its quads, then the record that its documents are done."""
        self.write_serialized(documents, ox.serialize(quads, format=ox.RdfFormat.N_QUADS) if quads else b"")

    def write_serialized(self, documents: Iterable[str], data: bytes) -> None:
        """The same, for quads already serialised as N-Quads."""
        documents = list(documents)
        with open(self.path, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self.size += len(data)
        with open(self.progress, "a", encoding="utf-8") as f:
            f.write(json.dumps({"bytes": self.size, "documents": documents}, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done.update(documents)
