"""W3C extended log format (IIS, TMG/ISA web proxy): directives and records, as bytes.

Format (https://www.w3.org/TR/WD-logfile.html; IIS:
https://learn.microsoft.com/en-us/windows/win32/http/w3c-logging): ``#Software``,
``#Version``, ``#Date`` and ``#Fields: f1 f2 …`` directives; a new ``#Fields`` may appear
anywhere and applies to the records after it. Records are space-separated; IIS writes a
space inside a value as ``+`` and an empty value as ``-``. Custom fields are appended by
name (``X-Forwarded-For``, ``cs(Authorization)``, ``Request-Authorization``).

Real logs are messier than the format (see ../shared/testdata/iis): a double space before
``cs-username``, IPv6 with zone ids, win32 status values wider than 32 bits. Records are
therefore split on runs of whitespace; a surplus of tokens (an unescaped space) is folded
into the user-agent/query field, a shortage padded with ``-``; the caller counts both.

Everything works on ``bytes``: the scanner decodes only the lines it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

FIELDS_PREFIX = b"#Fields:"
# Fields whose name says "the status", "the client" … in IIS and TMG spellings.
ROLES: dict[str, tuple[str, ...]] = {
    "date": ("date",),
    "time": ("time",),
    "status": ("sc-status",),
    "substatus": ("sc-substatus",),
    "win32": ("sc-win32-status",),
    "client": ("c-ip",),
    "user": ("cs-username",),
    "method": ("cs-method", "s-operation"),
    "url": ("cs-uri-stem", "cs-uri"),
    "query": ("cs-uri-query",),
    "host": ("cs-host", "cs(host)", "r-host"),
    "agent": ("cs(user-agent)", "c-agent"),
    "xff": ("x-forwarded-for", "cs(x-forwarded-for)", "x_forwarded_for"),
    "auth": ("cs(authorization)", "request-authorization", "authorization", "cs(request-authorization)"),
    "rule": ("rule",),
    "server": ("s-ip", "s-computername"),
    "port": ("s-port", "r-port"),
}
TMG_MARKERS = frozenset({"r-host", "s-svcname", "filterinfo", "rule", "s-computername", "cs-protocol"})
# Where surplus tokens most likely came from (values that can hold an unescaped space).
_SPILL = ("cs(user-agent)", "c-agent", "cs-uri-query", "cs(referer)")


class W3cFormatError(ValueError):
    """A directive that cannot be used (e.g. ``#Fields:`` without names)."""


@dataclass(frozen=True)
class Layout:
    """The meaning of the columns after one ``#Fields`` directive."""

    fields: tuple[str, ...]
    roles: dict[str, int]
    spill: int
    tmg: bool

    def get(self, parts: list[bytes], role: str) -> bytes | None:
        """The raw value of ``role`` in a split record, ``None`` if the layout lacks it or it is ``-``."""
        idx = self.roles.get(role)
        if idx is None or idx >= len(parts):
            return None
        value = parts[idx]
        return None if value == b"-" else value


def parse_fields(line: bytes) -> Layout:
    """The layout declared by a ``#Fields: …`` line."""
    names = line[len(FIELDS_PREFIX):].decode("ascii", "replace").split()
    if not names:
        raise W3cFormatError("#Fields directive without field names")
    lowered = tuple(n.lower() for n in names)
    roles: dict[str, int] = {}
    for role, candidates in ROLES.items():
        for cand in candidates:
            if cand in lowered:
                roles[role] = lowered.index(cand)
                break
    spill = next((lowered.index(s) for s in _SPILL if s in lowered), len(lowered) - 1)
    tmg = len(TMG_MARKERS.intersection(lowered)) >= 2
    return Layout(fields=tuple(names), roles=roles, spill=spill, tmg=tmg)


def split_record(line: bytes, layout: Layout) -> tuple[list[bytes], bool]:
    """The record's values, one per field, and whether the token count had to be repaired."""
    parts = line.split()
    n = len(layout.fields)
    if len(parts) == n:
        return parts, False
    if len(parts) > n:
        extra = len(parts) - n
        s = layout.spill
        parts[s:s + extra + 1] = [b"+".join(parts[s:s + extra + 1])]
        return parts, True
    return parts + [b"-"] * (n - len(parts)), True


def unescape(value: bytes | None) -> str:
    """A field value as text: ``-`` → empty, ``+`` → space (IIS escaping), undecodable bytes replaced."""
    if value is None or value == b"-":
        return ""
    return value.replace(b"+", b" ").decode("utf-8", "replace")


def as_int(value: bytes | None) -> int | None:
    """A numeric field (status, win32 status), ``None`` if empty or not a number."""
    if value is None or not value.isdigit() or len(value) > 20:
        return None
    return int(value)
