"""Which `SERVICE` (federated) calls a client's query may make: none, unless allow-listed.

The store executes `SERVICE <url>` by fetching the URL itself, so an open SPARQL endpoint is a
request forger: it would reach loopback, the cloud metadata address or internal hosts for anyone
who can query. kgrel finds every SERVICE clause before the query runs and refuses it unless its
endpoint is written as a full IRI, starts with an allow-listed prefix, is http(s), and its host
resolves to public addresses only (checked at query time, so DNS cannot be turned against it).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from kgrel.kg.errors import SparqlError
from kgrel.kg.sparql_text import LEXICAL


class ServiceRefused(SparqlError):
    """A SERVICE clause to an endpoint the settings do not allow."""


_SERVICE = re.compile(r"(?<![\w?$:.-])SERVICE(?![\w:.-])\s*(?:SILENT\s*)?(?P<target>\S*)", re.I)
_LOAD = re.compile(r"(?<![\w?$:.-])LOAD(?![\w:.-])\s*(?:SILENT\s*)?(?P<target>\S*)", re.I)


def service_targets(query: str) -> list[str]:
    """The endpoint of every SERVICE clause, as written (an <IRI>, a prefixed name or a ?variable)."""
    return _targets(query, _SERVICE)


def check_no_load(update: str) -> None:
    """SPARQL Update's LOAD fetches a document from a URL: the same request forgery as SERVICE, refused."""
    for target in _targets(update, _LOAD):
        raise ServiceRefused(f"LOAD {target} is refused: kgrel never fetches URLs for a client; send the data "
                             "to POST /graph/triples or PUT /graph/store")


def _targets(query: str, keyword: re.Pattern) -> list[str]:
    iris: list[str] = []

    def blank(match: re.Match) -> str:
        text = match.group(0)
        if text.startswith("<"):
            iris.append(text)
            return f"<{len(iris) - 1}>"
        return " " * len(text) if text.startswith("#") else '""'

    masked = LEXICAL.sub(blank, query)
    targets = []
    for match in keyword.finditer(masked):
        target = match["target"]
        found = re.match(r"<(\d+)>", target)
        targets.append(iris[int(found[1])] if found else target)
    return targets


def check_services(query: str, allowed: Sequence[str]) -> None:
    """Raise ServiceRefused unless every SERVICE endpoint of the query may be called."""
    for target in service_targets(query):
        if not allowed:
            raise ServiceRefused("SERVICE (federated query) is turned off on this server; an administrator can "
                                 "allow endpoints with KGREL_SPARQL_SERVICE_ALLOW")
        if not (target.startswith("<") and target.endswith(">")):
            raise ServiceRefused(f"SERVICE {target}: write the endpoint as a full <IRI>; variables and "
                                 "prefixed names are not allowed")
        url = target[1:-1]
        if not any(url.startswith(prefix) for prefix in allowed):
            raise ServiceRefused(f"SERVICE <{url}> is not an allowed endpoint (KGREL_SPARQL_SERVICE_ALLOW)")
        check_public_url(url)


def check_public_url(url: str) -> None:
    """Refuse URLs that are not http(s), or whose host is (or resolves to) a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServiceRefused(f"SERVICE <{url}>: only http and https endpoints can be called")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError):
        raise ServiceRefused(f"SERVICE <{url}>: the host {parts.hostname} does not resolve") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise ServiceRefused(f"SERVICE <{url}>: {parts.hostname} is a loopback, private or link-local "
                                 f"address ({ip}); those are never called")
