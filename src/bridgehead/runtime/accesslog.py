"""The JSON access log: one object per request or tunnel, one line each.

Fields: ts, client, user, rule, action (inspect|tunnel|deny|error), host, port, method,
url, status, code, reason, tmg_status, duration_ms, bytes_in, bytes_out — plus whatever a
caller adds. Never an Authorization value or a cookie: callers pass URLs and summaries
only, and :func:`scrub_url` drops query strings that look like credentials.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from pathlib import Path
from typing import IO, Any

from bridgehead.failures import get

FIELDS = ("ts", "client", "user", "rule", "action", "host", "port", "method", "url", "status", "code",
          "reason", "tmg_status", "duration_ms", "bytes_in", "bytes_out")

_SECRET_PARAMS = ("access_token", "token", "password", "passwd", "pwd", "code", "client_secret", "sig")


def scrub_url(url: str) -> str:
    """The URL with the values of credential-like query parameters replaced by ``***``."""
    base, sep, query = url.partition("?")
    if not sep:
        return url
    parts = []
    for item in query.split("&"):
        key, eq, _value = item.partition("=")
        parts.append(f"{key}=***" if eq and key.lower() in _SECRET_PARAMS else item)
    return base + "?" + "&".join(parts)


class AccessLog:
    def __init__(self, path: Path | None = None, stream: IO[str] | None = None) -> None:
        self.path = path
        self._fh: IO[str] | None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", buffering=1, encoding="utf-8")
        else:
            self._fh = stream
        self._lock = threading.Lock()

    def write(self, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {k: None for k in FIELDS}
        record["ts"] = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        record.update(fields)
        code = record.get("code")
        if code and record.get("tmg_status") is None:
            record["tmg_status"] = get(code).tmg
        if isinstance(record.get("url"), str):
            record["url"] = scrub_url(record["url"])
        if self._fh is not None:
            line = json.dumps(record, separators=(",", ":"), default=str)
            with self._lock:
                self._fh.write(line + "\n")
        return record

    def reopen(self) -> None:
        """Open ``path`` afresh (after logrotate renamed it; SIGUSR1/SIGHUP in ``serve``)."""
        if self.path is None:
            return
        fresh = open(self.path, "a", buffering=1, encoding="utf-8")
        with self._lock:
            old, self._fh = self._fh, fresh
        if old is not None:
            old.close()

    def close(self) -> None:
        if self._fh is not None and self._fh not in (sys.stdout, sys.stderr):
            self._fh.close()
