"""Mailbox move and migration reports (MRS), in the three shapes admins save them:

1. the report itself (``(Get-MoveRequestStatistics USER -IncludeReport).Report`` or the report
   of a migration user), one entry per line: ``12/1/2024 9:14:35 AM [SERVER] Transient error
   CommunicationErrorTransientException has occurred. The system will retry (1/60).``; lines that
   do not start with a date continue the entry before them;
2. ``Format-List`` output (``Get-MoveRequestStatistics | fl``): ``Name : value`` blocks separated
   by blank lines (``Identity``, ``Status``, ``StatusDetail``, ``FailureType``, ``Message``,
   ``LastFailureTime`` …);
3. ``Export-Csv`` of the same objects: an optional ``#TYPE`` line, a header row, one row per move
   (csv module).

Each entry keeps its 1-based line, its time (ISO 8601, as logged: the report's US date format),
who it is about (``Identity``/``DisplayName``/``Alias`` where known) and its text. Pure parsing,
bounded input (:data:`MAX_TEXT`).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass

MAX_TEXT = 64 * 1024 * 1024
_CUES = re.compile(r"Mailbox Replication|MRSProxy|mrsproxy\.svc|MoveRequest|Migration(?:Transient|Permanent)"
                   r"Exception|TransientException|PermanentException|Transient error \w+ has occurred", re.I)
_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?: ?([AP]M))?\s+(?:\[([^\]]*)\]\s*)?")
_KV = re.compile(r"^([A-Za-z][\w.]*)\s+: ?(.*)$")  # Format-List: the name at column 0, then " : "
# Fields whose values say what went wrong; who and when
_TEXT_FIELDS = ("message", "failuretype", "failurecode", "statusdetail", "errorsummary", "error", "report",
                "failuremessage")
_WHO_FIELDS = ("identity", "displayname", "alias", "mailboxidentity", "emailaddress", "targetmailbox")
_WHEN_FIELDS = ("lastfailuretime", "failuretimestamp", "lastupdatetimestamp", "timestamp")


@dataclass
class Entry:
    line: int
    text: str
    time: str | None = None
    who: str | None = None


def looks_like(head: str) -> bool:
    """True when the text names MRS or a move/migration exception near the start."""
    return _CUES.search(head) is not None


def _iso(m: re.Match[str]) -> str | None:
    month, day, year, hour, minute, second, ampm = m.groups()[:7]
    h = int(hour) % 12 + (12 if ampm == "PM" else 0) if ampm else int(hour)
    try:
        return dt.datetime(int(year), int(month), int(day), h, int(minute), int(second)).isoformat()
    except ValueError:
        return None


def _time_of(value: str) -> str | None:
    m = _DATE.match(value + " ")
    if m:
        return _iso(m)
    iso = re.match(r"\s*(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})", value)
    return f"{iso.group(1)}T{iso.group(2)}" if iso else None


def _from_fields(fields: dict[str, str], line: int) -> Entry:
    """One move (a Format-List block or a CSV row); its text is empty when nothing went wrong."""
    lowered = {k.strip().lower(): v.strip() for k, v in fields.items() if k}
    text = "\n".join(lowered[k] for k in _TEXT_FIELDS if lowered.get(k))
    who = next((lowered[k] for k in _WHO_FIELDS if lowered.get(k)), None)
    when = next((t for k in _WHEN_FIELDS if lowered.get(k) and (t := _time_of(lowered[k]))), None)
    return Entry(line=line, text=text, time=when, who=who)


def _csv_entries(lines: list[str], start: int) -> list[Entry]:
    rows = csv.DictReader(lines[start:])
    out = []
    for row in rows:
        out.append(_from_fields({k: v for k, v in row.items() if isinstance(k, str) and isinstance(v, str)},
                                start + rows.line_num))
    return out


def _list_entries(lines: list[str]) -> list[Entry]:
    out: list[Entry] = []
    block: dict[str, str] = {}
    first, key = 0, ""
    for i, line in enumerate([*lines, ""], 1):
        m = _KV.match(line)
        if not line.strip():
            if block:
                out.append(_from_fields(block, first))
            block, key = {}, ""
        elif m:
            if not block:
                first = i
            key = m.group(1)
            block[key] = m.group(2)
        elif key:  # Format-List wraps long values onto indented lines
            block[key] += " " + line.strip()
    return out


def _report_entries(lines: list[str]) -> list[Entry]:
    out: list[Entry] = []
    for i, line in enumerate(lines, 1):
        m = _DATE.match(line)
        if m:
            out.append(Entry(line=i, text=line[m.end():].strip(), time=_iso(m)))
        elif line.strip():
            if out:
                out[-1].text += "\n" + line.strip()
            else:
                out.append(Entry(line=i, text=line.strip()))
    return out


def parse(text: str) -> list[Entry]:
    """The entries of a report, a Format-List dump or an Export-Csv file (see the module docstring)."""
    lines = text[:MAX_TEXT].splitlines()
    start = 1 if lines and lines[0].startswith("#TYPE") else 0
    header = lines[start] if len(lines) > start else ""
    if header.startswith('"') and header.count('","') >= 1:
        names = {n.strip().lower() for n in next(csv.reader([header]), [])}
        if names & set(_TEXT_FIELDS):
            return _csv_entries(lines, start)
    if sum(1 for line in lines[:200] if _KV.match(line) and not _DATE.match(line)) >= 3 and \
            not any(_DATE.match(line) for line in lines[:50]):
        return _list_entries(lines)
    return _report_entries(lines)
