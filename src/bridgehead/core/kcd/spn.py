"""SPN templates of a delegating route: ``HTTP/{backend_host}`` → ``HTTP/exch01.corp.example``.

The service class is ``HTTP`` for HTTPS too (RFC 4559 §4 uses "HTTP@host"; TLS is layered under HTTP, as the
seed says and TMG does). Placeholders: ``{backend_host}`` (the route's backend host name), ``{backend_short}``
(its first label — when only the short name is registered), ``{backend_port}`` (for SPNs registered with a
port, ``HTTP/host:8443``). The realm comes from the route's settings, so the name is always a full principal.
"""

from __future__ import annotations

import re
import string

PLACEHOLDERS = ("backend_host", "backend_short", "backend_port")
_SPN = re.compile(r"^(?P<service>[A-Za-z][A-Za-z0-9._-]*)/(?P<host>[A-Za-z0-9._-]+)(?::(?P<port>\d{1,5}))?$")


class SpnError(ValueError):
    """An SPN template that cannot produce a valid SPN."""


def template_fields(template: str) -> list[str]:
    names = []
    for _text, name, spec, conv in string.Formatter().parse(template):
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conv:
            raise SpnError(f"SPN template {template!r}: unknown placeholder {{{name}}} "
                           f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
        names.append(name)
    return names


def render_spn(template: str, backend_host: str, backend_port: int = 443) -> str:
    """The SPN (without realm) for a backend; :class:`SpnError` if the result is not ``service/host[:port]``."""
    template_fields(template)
    try:
        value = template.format(backend_host=backend_host, backend_short=backend_host.split(".")[0],
                                backend_port=backend_port)
    except (IndexError, KeyError, ValueError) as exc:
        raise SpnError(f"SPN template {template!r}: {exc}") from None
    if not _SPN.fullmatch(value):
        raise SpnError(f"SPN {value!r} is not of the form service/host[:port]")
    return value


def spn_principal(spn: str, realm: str) -> str:
    """``HTTP/host@REALM`` — the principal the KDC is asked for."""
    return spn if "@" in spn else f"{spn}@{realm}"


def spn_warnings(spn: str, backend_host: str) -> list[str]:
    """Configuration hints (not errors): ``https/`` service class, short name vs FQDN, an IP address."""
    match = _SPN.fullmatch(spn)
    if not match:
        return [f"SPN {spn!r} is not of the form service/host[:port]"]
    out = []
    service, host = match["service"], match["host"]
    if service.lower() == "https":
        out.append("service class 'https' is almost never registered: SPNs use HTTP/ for HTTPS too")
    if re.fullmatch(r"[\d.]+", host):
        out.append("SPN names an IP address: Kerberos needs the host name the SPN is registered for")
    if "." not in host and "." in backend_host:
        out.append(f"SPN uses the short name {host!r}; if the KDC does not know it, try the FQDN {backend_host!r}")
    return out


def alternative_spns(spn: str, backend_host: str) -> list[str]:
    """Other forms worth trying when the KDC does not know ``spn`` (FQDN ↔ short name, HTTP class)."""
    match = _SPN.fullmatch(spn)
    if not match:
        return []
    host = match["host"]
    alts = [f"HTTP/{backend_host}", f"HTTP/{backend_host.split('.')[0]}"]
    return [a for a in dict.fromkeys(alts) if a.lower() != f"{match['service']}/{host}".lower()]
