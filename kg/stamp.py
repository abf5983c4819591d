"""The graph's version stamp: what several kgrel workers over one SPARQL server use to see each other's writes.

Each worker keeps what it builds from the graph (prototypes, the label index) until the graph changes.
In one process it knows when that is; with several workers over one store, a write through one must
reach the caches of the others. So every write also replaces a random token per aspect it changed
(`kg.changes`, plus the serving model and graph embeddings) in kgrel's state graph, and each worker
reads the tokens once per request: a token it has not seen means another worker wrote.

Tokens, not counters: two workers writing at once each leave a token the other has not seen, where
two increments read from the same value could leave the same count behind.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable

from kgrel.kg.namespaces import KGREL
from kgrel.kg.store import KnowledgeStore

STATE_GRAPH = "urn:kgrel:graph:state"
_SUBJECT = "urn:kgrel:state:"  # + aspect
_TOKEN = KGREL + "token"


def read(store: KnowledgeStore) -> dict[str, str]:
    """The current token of each aspect that was ever written."""
    rows = store.select(f"SELECT ?s ?t WHERE {{ GRAPH <{STATE_GRAPH}> {{ ?s <{_TOKEN}> ?t }} }}")
    out = {}
    for row in rows:
        subject = row["s"].value
        if subject.startswith(_SUBJECT):
            out[subject[len(_SUBJECT):]] = row["t"].value
    return out


def bump(store: KnowledgeStore, aspects: Iterable[str]) -> dict[str, str]:
    """Give each aspect a fresh token (one update request); returns the tokens written."""
    tokens = {aspect: uuid.uuid4().hex for aspect in sorted(set(aspects))}
    if not tokens:
        return tokens
    deletes = " ;\n".join(f"DELETE WHERE {{ GRAPH <{STATE_GRAPH}> {{ <{_SUBJECT}{a}> <{_TOKEN}> ?t }} }}"
                          for a in tokens)
    inserts = " ".join(f'<{_SUBJECT}{a}> <{_TOKEN}> "{t}" .' for a, t in tokens.items())
    store.update(f"{deletes} ;\nINSERT DATA {{ GRAPH <{STATE_GRAPH}> {{ {inserts} }} }}")
    return tokens


class StampWatcher:
    """The tokens one worker has seen; `changed_elsewhere` says which aspects others wrote since."""

    def __init__(self, store: KnowledgeStore):
        self.store = store
        self.seen = read(store)
        self._lock = threading.Lock()  # the store is read outside it: requests do not queue on the stamp

    def wrote(self, aspects: Iterable[str]) -> None:
        """Record a write of ours: a fresh token for each aspect, already seen by us."""
        tokens = bump(self.store, aspects)
        with self._lock:
            self.seen.update(tokens)

    def changed_elsewhere(self) -> set[str]:
        """The aspects whose token moved since we last looked. Two requests reading at once can make
        one report a change twice; that costs a rebuild, never a missed write."""
        current = read(self.store)
        with self._lock:
            changed = {a for a, t in current.items() if self.seen.get(a) != t}
            self.seen.update(current)
        return changed
