"""Prefix map: expands CURIEs such as ``wdt:P26`` to IRIs and back; persisted as JSON in the data dir."""

import json
import os
import re
import tempfile
import threading
from pathlib import Path

import pyoxigraph as ox

from kgrel.kg.errors import InvalidIdentifier
from kgrel.kg.namespaces import DEFAULT_PREFIXES

# Schemes accepted as full IRIs even when written without "<...>" and without "//".
_IRI_SCHEMES = {"http", "https", "urn", "mailto", "file", "tag", "did", "ftp", "doi"}
_PREFIX_RE = re.compile(r"^[A-Za-z][\w.-]*$|^$")


class PrefixMap:
    """Known prefixes: the defaults plus those declared by ingested Turtle/TriG or set by a user."""

    def __init__(self, path: Path | None = None):
        self._path = path
        self._lock = threading.Lock()
        self._prefixes: dict[str, str] = dict(DEFAULT_PREFIXES)
        self.reload()

    def reload(self) -> None:
        """Read the saved prefixes again (another worker sharing the data dir may have added some)."""
        if self._path is not None and self._path.exists():
            saved = json.loads(self._path.read_text(encoding="utf-8"))
            with self._lock:
                self._prefixes = {**self._prefixes, **saved}

    def as_dict(self) -> dict[str, str]:
        return dict(self._prefixes)

    def add(self, prefixes: dict[str, str]) -> bool:
        """Learn prefixes; an existing prefix keeps its namespace (the first declaration wins). Returns
        whether any was new."""
        new = {p: ns for p, ns in prefixes.items() if p not in self._prefixes and _PREFIX_RE.match(p) and ns}
        if not new:
            return False
        with self._lock:
            self._prefixes.update(new)
            self._save()
        return True

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        user = {p: ns for p, ns in self._prefixes.items() if DEFAULT_PREFIXES.get(p) != ns}
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".prefixes-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(user, f, indent=1, sort_keys=True)
        os.replace(tmp, self._path)  # atomic: a crash leaves the old file, never half a file

    def expand(self, identifier: str) -> str:
        """A full IRI for an IRI (optionally in angle brackets) or a CURIE with a known prefix."""
        text = identifier.strip()
        if not text:
            raise InvalidIdentifier("empty identifier: give a full IRI or a CURIE such as wdt:P26")
        if text.startswith("<") and text.endswith(">"):
            return _checked_iri(text[1:-1])
        prefix, sep, local = text.partition(":")
        if not sep:
            raise InvalidIdentifier(
                f"{identifier!r} is neither an IRI nor a CURIE; write e.g. wdt:P26 or http://example.org/rel"
            )
        if prefix in self._prefixes and not local.startswith("//"):
            return _checked_iri(self._prefixes[prefix] + local)
        if local.startswith("//") or prefix.lower() in _IRI_SCHEMES:
            return _checked_iri(text)
        known = ", ".join(sorted(self._prefixes))
        raise InvalidIdentifier(
            f"unknown prefix {prefix!r} in {identifier!r}; known prefixes: {known}. Use one of them, a full IRI "
            f"(e.g. http://example.org/{local or 'name'}), or declare {prefix!r} by ingesting Turtle that does "
            f"(@prefix {prefix}: <http://example.org/> .)")

    def compact(self, iri: str) -> str:
        """The shortest CURIE for an IRI, or the IRI itself when no prefix fits."""
        best = None
        for prefix, ns in self._prefixes.items():
            if iri.startswith(ns) and len(iri) > len(ns):
                local = iri[len(ns):]
                if re.fullmatch(r"[\w.-]+", local) and (best is None or len(ns) > len(best[1])):
                    best = (prefix, ns)
        return f"{best[0]}:{iri[len(best[1]):]}" if best else iri


def _checked_iri(iri: str) -> str:
    try:
        ox.NamedNode(iri)
    except ValueError as e:
        raise InvalidIdentifier(f"{iri!r} is not a valid IRI: {e}") from None
    if ":" not in iri:
        raise InvalidIdentifier(f"{iri!r} is not an absolute IRI (it has no scheme such as http:)")
    return iri
