"""Which route serves a request: by SNI for passthrough, by Host and path prefix otherwise.

* Host patterns are exact names or ``*.domain`` (one or more labels), compared without
  case and without a port (RFC 9110 §7.2: Host is ``uri-host [":" port]``).
* Path prefixes are compared without case, as IIS does (``/ews/`` reaches ``/EWS/``); the
  longest matching prefix wins, and a route without paths matches everything on its hosts.
* A path with dot segments or encoded ``.``/``/``/``\\`` is refused before matching: the
  backend would normalise ``/EWS/..%2Fowa/`` into another route's path and skip that route's
  client-certificate requirement (RFC 3986 §5.2.4 / §6.2.2.2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bridgehead.core.reverse.model import ClientCert, Mode, Route

_ENCODED_BAD = re.compile(r"%(2e|2f|5c|25)", re.IGNORECASE)


class PathRefused(ValueError):
    """The request target cannot be matched safely."""


def host_only(host: str) -> str:
    """``Host`` without port and trailing dot, lower case (``[v6]:443`` → ``v6``)."""
    text = host.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def host_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host_only(host)
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return pattern == host


def request_path(target: str) -> str:
    """The path of an origin-form (or absolute-form) request target, checked for traversal."""
    if target.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        target = "/" + rest.partition("/")[2] if "/" in rest else "/"
    if not target.startswith("/"):
        raise PathRefused("request target must be an absolute path (RFC 9112 §3.2.1)")
    path = target.split("?", 1)[0].split("#", 1)[0]
    if _ENCODED_BAD.search(path):
        raise PathRefused("encoded '.', '/', '\\' or '%' in the path")
    if "\\" in path or any(seg in (".", "..") for seg in path.split("/")):
        raise PathRefused("dot segments or backslashes in the path")
    return path


def _prefix_len(route: Route, path: str) -> int:
    if not route.paths:
        return 0
    lower = path.lower()
    best = -1
    for prefix in route.paths:
        p = prefix.lower()
        # "/owa/" also serves "/owa" (the redirect Exchange gives), "/EWS" does not match "/EWSX"
        if lower.startswith(p) or (p.endswith("/") and lower == p[:-1]):
            best = max(best, len(p))
    return best


def match(routes: Iterable[Route], host: str, target: str) -> Route | None:
    """The terminated route (reencrypt/offload) for ``host`` and ``target``, or ``None``."""
    path = request_path(target)
    best: tuple[int, int, Route] | None = None
    for route in routes:
        if route.mode == Mode.PASSTHROUGH:
            continue
        exact = any(h.lower() == host_only(host) for h in route.hosts)
        if not exact and not any(host_matches(h, host) for h in route.hosts):
            continue
        score = _prefix_len(route, path)
        if score < 0:
            continue
        key = (score, 1 if exact else 0)
        if best is None or key > best[:2]:
            best = (key[0], key[1], route)
    return best[2] if best else None


def passthrough_for(routes: Iterable[Route], sni: str | None) -> Route | None:
    """The passthrough route for a ClientHello's server name (exact names before wildcards)."""
    if not sni:
        return None
    candidates = [r for r in routes if r.mode == Mode.PASSTHROUGH and any(host_matches(h, sni) for h in r.hosts)]
    candidates.sort(key=lambda r: not any(h.lower() == sni.lower() for h in r.hosts))
    return candidates[0] if candidates else None


def needs_client_cert(routes: Iterable[Route]) -> bool:
    """Whether the listener must ask for a certificate in the handshake."""
    return any(r.mode != Mode.PASSTHROUGH and r.client_certificate != ClientCert.OFF for r in routes)
