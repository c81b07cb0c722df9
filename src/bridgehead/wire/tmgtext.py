"""TMG/ISA Log Viewer text, as admins copy it out of the console (seed 000):

    Denied Connection
    12/20/2013 11:44:55 AM
    Log type: Web Proxy (Forward)
    Status: 12229 The Web site requires a client certificate, but ...
    Rule: Anonymouse Access To Web Source: Internal (10.10.10.9:51269)
    Destination: External (157.56.55.72:443)
    Request: POST adminwebservice.microsoftonline.com
    Protocol: https-inspect
    User: anonymous

A record starts at an action line (``Denied Connection``, ``Failed Connection Attempt``,
``Closed Connection``, ``Allowed Connection``, ``Initiated Connection``), then a date line and
``Key: value`` fields. Copy and paste often joins two fields on one line (``Rule: … Source: …``)
and inserts blank lines; both are handled. Pure parsing: no I/O, bounded input.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

MAX_TEXT = 64 * 1024 * 1024
_ACTION = re.compile(r"^\s*((?:Denied|Failed|Closed|Allowed|Initiated) Connection(?: Attempt)?)\s*$", re.M)
_KEYS = ("Log type", "Status", "Rule", "Source", "Destination", "Request", "Filter information", "Protocol",
         "User", "Object source", "Cache information", "Processing time", "Bytes received", "Bytes sent",
         "Original Client IP", "Client agent", "Authenticated Server", "Server Name", "HTTP Status Code")
_FIELD = re.compile(r"(?:^|(?<=\s))(" + "|".join(re.escape(k) for k in _KEYS) + r"):[ \t]*", re.M)
_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?: ?([AP]M))?\s*$", re.M)
_STATUS = re.compile(r"^(\d{1,5})\b\s*(.*)$", re.S)


@dataclass
class TmgRecord:
    action: str
    time: str | None = None  # ISO 8601 (local time as logged)
    fields: dict[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def status(self) -> int | None:
        m = _STATUS.match(self.fields.get("Status", ""))
        return int(m.group(1)) if m else None

    @property
    def status_text(self) -> str:
        m = _STATUS.match(self.fields.get("Status", ""))
        return " ".join(m.group(2).split()) if m else ""


def looks_like(head: str) -> bool:
    """True for Log Viewer text: an action line and a ``Status:`` field near the start."""
    return bool(_ACTION.search(head)) and re.search(r"^\s*Status: \d{3,5}\b", head, re.M) is not None


def _time(m: re.Match[str]) -> str:
    month, day, year, hour, minute, second, ampm = m.groups()
    h = int(hour) % 12 + (12 if ampm == "PM" else 0) if ampm else int(hour)
    try:
        return dt.datetime(int(year), int(month), int(day), h, int(minute), int(second)).isoformat()
    except ValueError:
        return ""


def parse(text: str) -> list[TmgRecord]:
    """Every record in ``text`` (at most :data:`MAX_TEXT` characters are read)."""
    text = text[:MAX_TEXT]
    starts = list(_ACTION.finditer(text))
    records = []
    counted_at, line = 0, 1  # line numbers counted incrementally (linear in the text)
    for i, m in enumerate(starts):
        body = text[m.end(): starts[i + 1].start() if i + 1 < len(starts) else len(text)]
        line += text.count("\n", counted_at, m.start(1))
        counted_at = m.start(1)
        rec = TmgRecord(action=m.group(1), line=line)
        d = _DATE.search(body)
        if d is not None and not body[: d.start()].strip():
            rec.time = _time(d) or None
        keys = list(_FIELD.finditer(body))
        for j, k in enumerate(keys):
            end = keys[j + 1].start() if j + 1 < len(keys) else len(body)
            rec.fields.setdefault(k.group(1), " ".join(body[k.end(): end].split()))
        records.append(rec)
    return records
