"""IIS W3C extended log lines (the default field set plus ``X-Forwarded-For``).

Format as IIS writes it: ``#Software``/``#Version``/``#Date``/``#Fields`` directives when a file
starts, UTC times, spaces in values as ``+``, empty values as ``-``; ``sc-win32-status`` is the
unsigned decimal of the Windows/NTSTATUS/SSPI status (``3221226331`` = 0xC000035B).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

FIELDS = (
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
    "cs(Referer) sc-status sc-substatus sc-win32-status time-taken X-Forwarded-For"
)


@dataclass
class W3CRecord:
    when: dt.datetime
    server_ip: str
    method: str
    path: str
    query: str
    port: int
    username: str | None
    client_ip: str
    user_agent: str | None
    referer: str | None
    status: int
    substatus: int
    win32: int
    time_taken_ms: int
    forwarded_for: str | None


def _value(text: str | None) -> str:
    if text is None or text == "":
        return "-"
    return "".join("+" if ch == " " else ch for ch in text if ch.isprintable())


def format_line(rec: W3CRecord) -> str:
    when = rec.when.astimezone(dt.UTC)
    values = [
        when.strftime("%Y-%m-%d"), when.strftime("%H:%M:%S"), rec.server_ip, rec.method, _value(rec.path),
        _value(rec.query), str(rec.port), _value(rec.username), rec.client_ip, _value(rec.user_agent),
        _value(rec.referer), str(rec.status), str(rec.substatus), str(rec.win32 & 0xFFFFFFFF),
        str(rec.time_taken_ms), _value(rec.forwarded_for),
    ]
    return " ".join(values)


class W3CWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, rec: W3CRecord) -> None:
        with self._lock:
            fresh = not self.path.exists() or self.path.stat().st_size == 0
            with self.path.open("a", encoding="utf-8") as fh:
                if fresh:
                    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
                    fh.write("#Software: Microsoft Internet Information Services 10.0 (bridgehead backend)\n")
                    fh.write(f"#Version: 1.0\n#Date: {now}\n#Fields: {FIELDS}\n")
                fh.write(format_line(rec) + "\n")
