"""Labelling sessions' working state (the sentence pool and the decisions), one JSON file per session.

What a session produces lives in the graph: examples in kgrel's examples graph, facts with
provenance in the session's named graph. This file only remembers which candidate pairs the user
has seen and what was decided, so a session survives a restart. Writes are atomic (temp + rename).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kgrel.kg.errors import NotFound

SESSION_ID = re.compile(r"[0-9a-f]{12}")


@dataclass
class CandidateMention:
    start: int  # offsets in the sentence
    end: int
    text: str
    entity: str | None = None
    linked_by: str | None = None  # "name", "spelling", "context" or "hand" (kg.linking); None when unlinked
    link_score: float | None = None  # closeness of the spelling, for a link by spelling

    @classmethod
    def found(cls, m) -> CandidateMention:
        """From a `kg.linking.FoundMention`."""
        return cls(m.start, m.end, m.text, m.entity, *m.link)


@dataclass
class Support:
    """Another sentence of the document that names the same two entities: a candidate is one per entity pair."""

    sentence: str
    offset: int
    head: CandidateMention
    tail: CandidateMention


@dataclass
class Candidate:
    """Two linked entities of a document, shown in the first sentence that names both (the others are its
    support), waiting for (or having had) the user's decision."""

    id: str
    sentence: str
    head: CandidateMention
    tail: CandidateMention
    document: int = 0
    offset: int = 0  # where the sentence starts in its document
    status: str = "pending"  # pending | accepted | rejected | corrected
    relation: str | None = None  # the relation the user settled on (accepted or corrected)
    example: str | None = None  # example IRI created from it
    statement: str | None = None  # provenance statement of the fact written to the graph
    user: str | None = None
    decided: str | None = None
    recorded: bool = False  # the decision is recorded in the graph (kgrel:Decision), so the graph is the truth
    swapped_by_user: bool = False  # the user set the direction: the model no longer turns the pair round
    support: list[Support] = field(default_factory=list)  # the other sentences naming both entities

    def turn(self) -> None:
        """Head and tail exchanged, in the sentence shown and in its support."""
        self.head, self.tail = self.tail, self.head
        for s in self.support:
            s.head, s.tail = s.tail, s.head

    def pair(self) -> tuple[int, frozenset]:
        """The document and the two entities, whichever way round: one candidate each."""
        return self.document, frozenset((self.head.entity, self.tail.entity))


@dataclass
class Session:
    id: str
    name: str
    relation: str
    user: str
    created: str
    candidates: list[Candidate] = field(default_factory=list)
    documents: int = 0

    def candidate(self, candidate_id: str) -> Candidate:
        for c in self.candidates:
            if c.id == candidate_id:
                return c
        raise NotFound(f"no suggestion {candidate_id} in session {self.id}")

    def counts(self) -> dict[str, int]:
        out = {"pending": 0, "accepted": 0, "rejected": 0, "corrected": 0}
        for c in self.candidates:
            out[c.status] += 1
        return out


def _from_dict(data: dict) -> Session:
    def support(s: dict) -> Support:
        return Support(s["sentence"], s["offset"], CandidateMention(**s["head"]), CandidateMention(**s["tail"]))

    candidates = [Candidate(**{**c, "head": CandidateMention(**c["head"]), "tail": CandidateMention(**c["tail"]),
                               "support": [support(s) for s in c.get("support", [])]})
                  for c in data.pop("candidates", [])]
    return Session(**data, candidates=candidates)


class SessionStore:
    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = threading.RLock()
        # session id -> (file modification time, session): a file another worker rewrote is read again
        self._cache: dict[str, tuple[int, Session]] = {}

    def new_id(self) -> str:
        return uuid.uuid4().hex[:12]

    def save(self, session: Session) -> None:
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".session-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(asdict(session), f, ensure_ascii=False)
            path = self.folder / f"{session.id}.json"
            os.replace(tmp, path)
            self._cache[session.id] = (path.stat().st_mtime_ns, session)

    def get(self, session_id: str) -> Session:
        with self._lock:
            if not SESSION_ID.fullmatch(session_id):
                raise NotFound(f"no labelling session {session_id[:40]}: session ids are 12 hex digits")
            path = self.folder / f"{session_id}.json"
            try:
                modified = path.stat().st_mtime_ns
            except FileNotFoundError:
                raise NotFound(f"no labelling session {session_id}") from None
            cached = self._cache.get(session_id)
            if cached is not None and cached[0] == modified:
                return cached[1]
            session = _from_dict(json.loads(path.read_text(encoding="utf-8")))
            self._cache[session_id] = (modified, session)
            return session

    def all(self) -> list[Session]:
        if not self.folder.exists():
            return []
        return sorted((self.get(p.stem) for p in self.folder.glob("*.json")), key=lambda s: s.created)
