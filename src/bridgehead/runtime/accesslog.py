"""The JSON access log: one object per request or tunnel, one line each.

Fields: ts, client, user, rule, action (inspect|tunnel|deny|error), host, port, method,
url, status, code, reason, tmg_status, duration_ms, bytes_in, bytes_out in every record, and
the others of :class:`AccessRecord` where they apply; ``write`` is typed by it. Never an
Authorization value or a cookie: callers pass URLs and summaries
only, and :func:`scrub_url` drops query strings that look like credentials.

Records are written in batches (one system call for many requests): inside an event loop a
record waits until the end of the event loop's turn (``FLUSH_AFTER``; or until ``BATCH_MAX`` are waiting); outside one
it is written at once. Nothing waiting is lost: ``reopen``, ``close``, interpreter exit
(``atexit``) and :func:`flush_all` (forked workers call it before ``os._exit``) write it out.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import json
import os
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import IO, Any, TypedDict, Unpack
from urllib.parse import unquote_plus

from bridgehead.failures import get


class AccessRecord(TypedDict, total=False):
    """The fields an access-log record may carry (``AccessLog.write(**fields)`` is typed by it,
    so mypy refuses a misspelt or unknown field at every call site)."""

    # every record (README, "Access log"); None when not known
    ts: str
    client: str | None
    user: str | None
    rule: str | None
    action: str  # inspect | tunnel | deny | error (forward); publish | tunnel | deny | error | backend-check
    host: str | None
    port: int | None
    method: str | None
    url: str | None
    status: int | None
    code: str | None
    reason: str | None
    tmg_status: int | None
    duration_ms: float | None
    bytes_in: int | None
    bytes_out: int | None
    # the forward proxy: the client's protocol (HTTP/1.0 | HTTP/1.1 | h2 | tunnel; inspected: the inner one)
    protocol: str | None
    # the forward proxy: the protocol spoken to the origin (HTTP/1.0 | HTTP/1.1 | h2; null: no origin reached)
    upstream_protocol: str | None
    # the reverse proxy
    listener: str | None
    route: str | None
    mode: str | None
    upgrade: str | None
    identity: str | None
    identity_source: str | None
    cert_subject: str | None
    cert_issuer: str | None
    cert_serial: str | None
    kcd_user: str | None
    kcd_spn: str | None
    kcd_cached: bool | None
    kcd_rule: str | None
    # the start-up backend check (reverse)
    same_certificate: bool | None
    backend_sha256: str
    listener_sha256: str
    backend_requests_client_cert: bool


FIELDS = ("ts", "client", "user", "rule", "action", "host", "port", "method", "url", "status", "code",
          "reason", "tmg_status", "duration_ms", "bytes_in", "bytes_out")  # present (None if unknown) in each

# Query parameters whose values are credentials (OAuth, SAML, AWS/Azure/GCS signed URLs, API keys,
# sessions). A name matches after percent-decoding and case-folding (``%74oken`` is ``token``);
# names containing one of _SECRET_PARTS match too (``x_auth_token``, ``db_password``).
_SECRET_PARAMS = frozenset({
    "access_token", "token", "password", "passwd", "pwd", "pass", "code", "client_secret", "sig", "signature",
    "api_key", "apikey", "key", "secret", "session", "sessionid", "sid", "jwt", "id_token", "refresh_token",
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential",
    "auth", "authorization", "private_token", "sas", "sv_sig", "ticket", "assertion", "client_assertion",
    "samlresponse", "samlrequest", "otp", "pin", "passcode", "credential", "credentials",
})
_SECRET_PARTS = ("token", "secret", "passw", "signature", "credential", "apikey", "api_key", "session")


def _secret_name(key: str) -> bool:
    name = unquote_plus(key).strip().lower()
    return name in _SECRET_PARAMS or any(part in name for part in _SECRET_PARTS)


def scrub_url(url: str) -> str:
    """The URL with a userinfo password and the values of credential-like query parameters as ``***``."""
    if "?" not in url and "@" not in url and "#" not in url:
        return url  # nothing that could hold a credential (the common case: a plain path)
    scheme, sep, rest = url.partition("://")
    if sep:
        cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
        authority = rest[:cut]
        if "@" in authority:  # RFC 3986 §3.2.1: "user:password@" is deprecated and never logged
            user = authority.rpartition("@")[0].partition(":")[0]
            rest = f"{user}:***@{authority.rpartition('@')[2]}" + rest[cut:]
        url = scheme + sep + rest
    base, qsep, query = url.partition("?")
    if not qsep:
        return url
    query, hsep, _fragment = query.partition("#")
    parts = []
    for item in query.split("&"):
        key, eq, _value = item.partition("=")
        parts.append(f"{key}=***" if eq and _secret_name(key) else item)
    return base + "?" + "&".join(parts) + (hsep + "***" if hsep else "")


_STAMP: list[Any] = [-1, ""]  # the second last formatted and its text


def _timestamp() -> str:
    """ISO 8601 UTC with milliseconds, as ``datetime.isoformat`` writes it; the seconds part is formatted
    once per second (this is on every request's path)."""
    now = time.time()
    second = int(now)
    if second != _STAMP[0]:
        _STAMP[0], _STAMP[1] = second, dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_STAMP[1]}.{int((now - second) * 1000):03d}+00:00"


def _open(path: Path) -> IO[str]:
    """Append-open ``path`` readable by owner and group only (0640; an existing 0644 file is tightened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    if os.fstat(fd).st_mode & 0o007:
        os.fchmod(fd, 0o640)
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8")


# Records logged in one turn of the event loop are written together at the end of that turn: a
# record is on disk as soon as the answer it describes has left (a waiting time of 0.1 s saved no
# measurable CPU, bench/forward.py ±6 %, and made readers of the log, the lab and tests, see it late).
FLUSH_AFTER = 0.0
BATCH_MAX = 256  # records; a fuller batch is written at once
_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode  # json.dumps builds one per call
_OPEN: weakref.WeakSet[AccessLog] = weakref.WeakSet()


def flush_all() -> None:
    """Write every waiting record of every open log (at exit; before a forked worker's ``os._exit``)."""
    for log in list(_OPEN):
        log.flush()


atexit.register(flush_all)


class AccessLog:
    def __init__(self, path: Path | None = None, stream: IO[str] | None = None) -> None:
        self.path = path
        self._fh: IO[str] | None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = _open(path)
        else:
            self._fh = stream
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._timer_loop: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on
        _OPEN.add(self)

    def _queue(self, line: str) -> None:
        with self._lock:
            self._pending.append(line)
            full = len(self._pending) >= BATCH_MAX
        if full:
            self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a thread, a command): write now
            self.flush()
            return
        if self._timer_loop is loop:
            return
        if self._timer_loop is not None and not self._timer_loop.is_closed():
            self.flush()  # a batch scheduled on another loop: write it rather than wait on that loop
        self._timer_loop = loop
        if FLUSH_AFTER > 0:
            loop.call_later(FLUSH_AFTER, self.flush)
        else:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the waiting records, one write for the batch."""
        with self._lock:
            self._timer_loop = None
            lines, self._pending = self._pending, []
            if lines and self._fh is not None:
                self._fh.write("\n".join(lines) + "\n")
                self._fh.flush()

    def write(self, **fields: Unpack[AccessRecord]) -> dict[str, Any]:
        record: dict[str, Any] = dict.fromkeys(FIELDS)
        record["ts"] = _timestamp()
        record.update(fields)
        code = record.get("code")
        if code and record.get("tmg_status") is None:
            record["tmg_status"] = get(code).tmg
        if isinstance(record.get("url"), str):
            record["url"] = scrub_url(record["url"])
        if self._fh is not None:
            self._queue(_ENCODE(record))
        return record

    def reopen(self) -> None:
        """Open ``path`` afresh (after logrotate renamed it; SIGUSR1/SIGHUP in ``serve``)."""
        if self.path is None:
            return
        fresh = _open(self.path)
        self.flush()  # what waits belongs to the old file (it was written before the rotation)
        with self._lock:
            old, self._fh = self._fh, fresh
        if old is not None:
            old.close()

    def close(self) -> None:
        self.flush()
        if self._fh is not None and self._fh not in (sys.stdout, sys.stderr):
            self._fh.close()
