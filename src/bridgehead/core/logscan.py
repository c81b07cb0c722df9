"""Log analysis: records in, findings (registry codes with counts, times, endpoints, examples) out.

No file I/O here: :mod:`bridgehead.runtime.logfiles` opens files (gzip, directories,
encodings) and feeds bytes to the scanners of this module.

W3C (IIS, TMG/ISA) is the hot path and is built for speed: :class:`W3cScanner` takes large
byte blocks, scans them in place (only a line cut by a block boundary is copied) and never
splits every line. Cheap prefilters run over the whole block — one regular expression for
space-delimited interesting status tokens (IIS layouts: 401 and 403, the only statuses that
give IIS findings; TMG layouts also 407, 408, 502, 504, 122xx/123xx) and ``bytes.find`` for
literals (``AMProbe``, logged ``NTLM+``/``Negotiate+``/``Bearer+``/``Basic+`` values,
``error_category``). Only the lines they hit are split and analysed; line numbers are counted
(newlines since the last counted hit) only for lines that produce a finding, and the normal
NTLM handshake steps (``401 2 5``, ``401 1 2148074254``) only update the three-401 state, keyed
by the raw client and URL bytes (inline in :meth:`W3cScanner._records`, without decoding or
building a record). A prefilter hit that turns out uninteresting after splitting (e.g.
``time-taken`` = 401) costs one split and nothing else. Directive lines are found by searching
for ``#`` alone (memchr) and checking the byte before it. ``straightforward=True`` judges every
record by the general rules instead: the tests hold both paths to the same findings.

Rules (registry codes):
- sc-win32-status of a 401/403 with a registry number → that entry (3221226331 →
  ntlm-bad-bindings, 2148074248 → ntlm-invalid-token, 1326 → ntlm-logon-failure …).
- three 401s per client and URL: the IIS NTLM sequence is ``401 2 5`` → ``401 1 2148074254``
  (the CHALLENGE) → 2xx; a ``401 1 <error>`` right after the CHALLENGE step (within 120 s)
  is the third 401 → ntlm-three-401. Without a win32 column: three 401s within 2 s.
- 403.7/.13/.16/.17 → edge client-certificate entries.
- ``X-Forwarded-For`` on a 401/403 → ntlm-proxy-in-path.
- ``AMProbe/OAUTH`` user agent → oauth-probe (status breakdown in details).
- a logged Authorization value → log-contains-credentials, with a decoded summary.
- TMG: 122xx/123xx status → the entry with that TMG code; 408 → kcd-kdc-timeout-408,
  401/403 → kcd-delegated-401-403 (the seed-004 signs behind a publishing rule).
- TMG Log Viewer text (``Denied Connection … Status: 12229 … Rule: …``, seed 000): the record's
  Status → the entry with that TMG code (or Winsock number), with rule, source and request.
- Windows events (exported Event XML and ``.evtx`` records alike): the event's text — its rendered
  Message, or for data-only events the Event Viewer sentence rebuilt by
  :mod:`bridgehead.wire.eventmessages` (Schannel 36874/36887/36888, KDC 14/16/27, 4771) — is
  matched by ``explain``; its best entry is the finding.
- Exchange HttpProxy CSV and MRS move reports: see :class:`HttpProxyScanner` and
  :func:`move_report_findings`.
"""

from __future__ import annotations

import bisect
import fnmatch
import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridgehead.failures import REGISTRY, by_number, by_tmg
from bridgehead.wire import eventmessages, movereport, tmgtext, w3c

if TYPE_CHECKING:
    from bridgehead.wire import freb, winevent

# bridgehead.core.explain and wire.authsummary (PyJWT, cryptography: ~0.1 s) are imported by the few
# functions that use them, so that ``logs scan`` of a W3C file starts in a third of the time.

MAX_LINE = 64 * 1024
MAX_EXAMPLES = 5
MAX_ERRORS = 20
MAX_PENDING = 200_000
NTLM_CHALLENGE_STEP = 2148074254  # 0x8009030E: IIS logs the CHALLENGE round trip as 401 1 2148074254
_WIN32_EXTRA = {1326: "ntlm-logon-failure"}  # ERROR_LOGON_FAILURE, logged in Win32 form
_403_SUB = {7: "edge-client-cert-missing", 13: "edge-client-cert-revoked", 16: "edge-client-cert-untrusted",
            17: "edge-client-cert-expired"}
# A literal leading space makes CPython's regex engine scan fast (≈500 MB/s); tabs get a second pass.
# Only TMG layouts turn 407/408/502/504/122xx/123xx into findings: IIS layouts look for 401/403 only
# (a 3-byte literal prefix, twice as fast as the alternation).
_STATUS_RX = re.compile(rb" (?:40[1378]|50[24]|12[23]\d\d)(?=[ \t\r\n])")
_STATUS_TAB_RX = re.compile(rb"\t(?:40[1378]|50[24]|12[23]\d\d)(?=[ \t\r\n])")
_IIS_STATUS_RX = re.compile(rb" 40[13](?=[ \t\r\n])")
_HANDSHAKE_RAW = frozenset({b"5", str(NTLM_CHALLENGE_STEP).encode()})
_STATUSES = frozenset({401, 403, 407, 408, 502, 504})
_HANDSHAKE_STEPS = frozenset({5, NTLM_CHALLENGE_STEP})  # 401.2 win32 5 and 401.1 CHALLENGE: normal steps
_DEFAULT_IIS = frozenset(w3c.ROLES["date"] + w3c.ROLES["time"] + ("s-ip", "cs-method", "cs-uri-stem",
                         "cs-uri-query", "s-port", "cs-username", "c-ip", "cs(user-agent)", "cs(referer)",
                         "sc-status", "sc-substatus", "sc-win32-status", "time-taken", "sc-bytes", "cs-bytes",
                         "cs-host", "s-sitename", "s-computername", "cs-version", "cs(cookie)"))
_DIAG_RX = re.compile(r"\b(2000\d{3});")


def _literals(layout: w3c.Layout) -> tuple[bytes, ...]:
    """The literal prefilters worth running for a layout (no Authorization field → no auth literals)."""
    lits: list[bytes] = []
    if "agent" in layout.roles:
        lits.append(b"AMProbe/OAUTH")
    if "auth" in layout.roles:
        lits += [b"NTLM+", b"Negotiate+", b"Bearer+", b"Basic+", b"NTLM ", b"Negotiate ", b"Bearer ", b"Basic "]
    if any(f.lower() not in _DEFAULT_IIS for f in layout.fields):  # custom fields may carry x-ms-diagnostics
        lits.append(b"error_category")
    return tuple(lits)


@functools.lru_cache(maxsize=4096)
def _codes_for_number(value: int) -> tuple[str, ...]:
    return tuple(f.code for f in by_number(value))


@dataclass
class Finding:
    code: str
    count: int = 0
    first: str | None = None
    last: str | None = None
    examples: list[str] = field(default_factory=list)
    endpoints: Counter[str] = field(default_factory=Counter)
    clients: Counter[str] = field(default_factory=Counter)
    details: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        f = REGISTRY[self.code]
        return {
            "code": self.code, "title": f.title, "count": self.count, "first": self.first, "last": self.last,
            "examples": self.examples, "endpoints": dict(self.endpoints.most_common(10)),
            "clients": dict(self.clients.most_common(10)), "details": dict(self.details.most_common(10)),
            "fix": f.fix,
        }


class Findings:
    """Findings by registry code, with counts, first/last time, top endpoints/clients, examples."""

    def __init__(self) -> None:
        self.by_code: dict[str, Finding] = {}

    def add(self, code: str, *, time: str | None, where: str, endpoint: str | None = None,
            client: str | None = None, detail: str | None = None) -> None:
        f = self.by_code.get(code)
        if f is None:
            f = self.by_code[code] = Finding(code)
        f.count += 1
        if time:
            if f.first is None or time < f.first:
                f.first = time
            if f.last is None or time > f.last:
                f.last = time
        if len(f.examples) < MAX_EXAMPLES:
            f.examples.append(where)
        if endpoint:
            f.endpoints[endpoint] += 1
        if client:
            f.clients[client] += 1
        if detail:
            f.details[detail] += 1

    def as_list(self) -> list[dict[str, Any]]:
        order = sorted(self.by_code.values(), key=lambda f: (f.code in _INFO, -f.count, f.code))
        return [f.as_dict() for f in order]


_INFO = frozenset({"oauth-probe", "log-contains-credentials"})  # listed after the failures
_NOT_FAILURES = frozenset({"client-cert-spliced"})  # bridgehead's access log: outcomes that are not findings


@dataclass
class FileResult:
    path: str
    format: str
    records: int = 0
    repaired: int = 0
    errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)
        elif len(self.errors) == MAX_ERRORS:
            self.errors.append("… more errors not shown")

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "records": self.records, "errors": self.errors,
                "repaired_lines": self.repaired}


@dataclass(frozen=True)
class Filters:
    """--since/--until (normalised ``YYYY-MM-DDTHH:MM:SS`` strings) and --url (a glob)."""

    since: str | None = None
    until: str | None = None
    url: str | None = None

    def url_rx(self) -> re.Pattern[str] | None:
        return re.compile(fnmatch.translate(self.url), re.I) if self.url else None

    def in_time(self, time: str | None) -> bool:
        if time is None:
            return self.since is None and self.until is None
        t = time[:19]
        return not ((self.since and t < self.since) or (self.until and t > self.until))


def normalise_time(value: str) -> str:
    """``2024-09-10 10:00[:00][Z|+00:00]`` or ISO → ``2024-09-10T10:00:00`` (UTC assumed)."""
    text = value.strip().replace(" ", "T", 1)
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2})(:\d{2})?(?:\.\d+)?)?(Z|[+-]00:?00)?", text)
    if m is None:
        raise ValueError(f"not a time: {value!r} (use YYYY-MM-DD[ HH:MM[:SS]], UTC)")
    return f"{m.group(1)}T{m.group(2) or '00:00'}{m.group(3) or ':00'}"


def _next_directive(buf: bytes, pos: int, n: int) -> int:
    """Start of the first line after ``pos`` that begins with ``#`` (``n`` if none).

    Looks for ``#`` alone (memchr, several GB/s; ``#`` is rare in records: browsers do not send
    fragments, IIS escapes it) and checks the byte before, instead of searching ``\n#``.
    """
    i = buf.find(b"#", pos + 1, n)
    while i >= 0:
        if buf[i - 1] == 0x0A:
            return i
        i = buf.find(b"#", i + 1, n)
    return n


class W3cScanner:
    """Streaming scanner for one W3C file (IIS or TMG). Feed blocks of bytes, then :meth:`close`.

    ``straightforward=True`` turns the prefilters and the handshake fast path off: every record is
    split and judged by the general rules. It is slower and gives the same findings (the tests
    compare both on one generated file).
    """

    def __init__(self, result: FileResult, findings: Findings, filters: Filters, *,
                 straightforward: bool = False) -> None:
        self.result = result
        self.findings = findings
        self.filters = filters
        self.url_rx = filters.url_rx()
        self.straightforward = straightforward
        self.layout: w3c.Layout | None = None
        self.literals: tuple[bytes, ...] = ()
        self.status_rx = _IIS_STATUS_RX
        # columns of the handshake fast path (status, win32, client, url, date, time, field count); None: off
        self.fast: tuple[int, int, int, int, int, int, int] | None = None
        self.carry = b""
        self.skipping = False  # inside an over-long line
        self.line_no = 0  # lines fully consumed so far
        # (client, lower-cased URL) as logged (raw bytes) → time of the 401 CHALLENGE step
        self.challenge: dict[tuple[bytes, bytes], str] = {}
        self.recent401: dict[tuple[bytes, bytes], tuple[str, int]] = {}
        self.ix: dict[str, int] = {}  # column of each role in the current layout
        # line numbers are counted lazily, only for lines that produce a finding
        self._cnt_buf = b""
        self._cnt_at = 0
        self._cnt_line = 0

    # -- block handling -------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        cut = data.rfind(b"\n")
        if cut < 0:
            self._carry_more(data)
            return
        start = 0  # the block is scanned in place (no copy): only a carried partial line is joined
        if self.skipping:
            start = data.find(b"\n") + 1
            self.line_no += 1
            self.skipping = False
        elif self.carry:
            start = data.find(b"\n") + 1
            self._block(self.carry + data[:start])
        self.carry = b""
        self._block(data, start, cut + 1)
        self._carry_more(data[cut + 1:])

    def _carry_more(self, data: bytes) -> None:
        if self.skipping:
            return
        self.carry += data
        if len(self.carry) > MAX_LINE:
            self.result.error(f"line {self.line_no + 1}: longer than {MAX_LINE} bytes, skipped")
            self.carry = b""
            self.skipping = True

    def close(self) -> None:
        if self.carry and not self.skipping:
            self._block(self.carry + b"\n")
        elif self.skipping:
            self.line_no += 1
        self.carry = b""

    def _block(self, buf: bytes, pos: int = 0, n: int | None = None) -> None:
        """Complete lines (``buf[pos:n]`` ends with a newline): split at directives, scan the records between."""
        n = len(buf) if n is None else n
        while pos < n:
            if buf.startswith(b"#", pos):
                d = pos
            else:
                d = _next_directive(buf, pos, n)
                self._records(buf, pos, d)
                if d >= n:
                    return
            end = buf.find(b"\n", d, n)
            end = n if end < 0 else end
            self._directive(buf[d:end].rstrip(b"\r"))
            self.line_no += 1
            pos = end + 1

    def _directive(self, line: bytes) -> None:
        if line.startswith(w3c.FIELDS_PREFIX):
            try:
                self.layout = w3c.parse_fields(line)
                self.literals = _literals(self.layout)
                self.ix = dict(self.layout.roles)
                self.status_rx = _STATUS_RX if self.layout.tmg else _IIS_STATUS_RX
                self.fast = self._fast_columns(self.layout)
            except w3c.W3cFormatError as exc:
                self.result.error(f"line {self.line_no + 1}: {exc}")

    def _fast_columns(self, layout: w3c.Layout) -> tuple[int, int, int, int, int, int, int] | None:
        """Columns for the handshake fast path, or ``None`` when the general rules must see every hit.

        The fast path applies only where :meth:`_line` would do nothing but update the three-401
        state: an IIS layout without X-Forwarded-For, no --since/--until/--url filter.
        """
        roles = layout.roles
        f = self.filters
        if layout.tmg or "xff" in roles or f.since or f.until or f.url or self.straightforward:
            return None
        try:
            return (roles["status"], roles["win32"], roles["client"], roles["url"], roles["date"], roles["time"],
                    len(layout.fields))
        except KeyError:
            return None

    def _records(self, buf: bytes, start: int, end: int) -> None:
        if end <= start:
            return
        lines = buf.count(b"\n", start, end)
        self.result.records += lines
        layout = self.layout
        if layout is None:
            self.result.error(f"line {self.line_no + 1}: records before any #Fields directive, not analysed")
            self.line_no += lines
            return
        base_line = self.line_no
        self._cnt_buf, self._cnt_at, self._cnt_line = buf, start, base_line
        if self.straightforward:
            self._every_record(buf, start, end)
            self.line_no = base_line + lines
            return
        positions: list[int] = [m.start() for m in self.status_rx.finditer(buf, start, end)]
        literal_at: set[int] = set()
        if layout.tmg and buf.find(b"\t", start, end) >= 0:  # TMG/ISA logs are tab-separated
            positions += [m.start() for m in _STATUS_TAB_RX.finditer(buf, start, end)]
            positions.sort()
        for lit in self.literals:
            pos = buf.find(lit, start, end)
            while pos >= 0:
                literal_at.add(pos)
                pos = buf.find(lit, pos + 1, end)
        lit_sorted: list[int] = []
        if literal_at:
            positions = sorted(literal_at.union(positions))
            lit_sorted = sorted(literal_at)
        done_until = start
        fast = self.fast
        si, wi, ci, ui, di, ti, nf = fast or (0, 0, 0, 0, 0, 0, -1)
        challenge = self.challenge
        rfind, find = buf.rfind, buf.find
        for pos in positions:
            if pos < done_until:
                continue
            ls = rfind(b"\n", start, pos) + 1
            if ls < start:
                ls = start
            le = find(b"\n", pos, end)
            if le < 0:
                le = end
            done_until = le + 1
            # every literal occurrence of the block is in lit_sorted: is one of them on this line?
            literal = bool(lit_sorted) and bisect.bisect_left(lit_sorted, ls) < bisect.bisect_left(lit_sorted, le)
            line = buf[ls:le]
            if fast is not None and not literal:
                # The normal NTLM steps 401 2 5 / 401 1 2148074254 as _line treats them: state only (inlined:
                # two thirds of all hits in an Exchange log; _fast_columns says when this applies).
                parts = line.split()
                if len(parts) == nf and parts[si] == b"401" and (win32 := parts[wi]) in _HANDSHAKE_RAW:
                    client, url = parts[ci], parts[ui]
                    key = (b"" if client == b"-" else client, b"" if url == b"-" else url.lower())
                    if win32 == b"5":
                        challenge.pop(key, None)
                        continue
                    if len(challenge) >= MAX_PENDING:  # bound memory on huge logs: forget old handshakes
                        challenge.clear()
                    date, tm = parts[di], parts[ti]
                    challenge[key] = "" if date == b"-" or tm == b"-" else (date + b"T" + tm).decode("ascii", "replace")
                    continue
            self._line(line.rstrip(b"\r"), ls, literal)
        self.line_no = base_line + lines

    def _every_record(self, buf: bytes, start: int, end: int) -> None:
        """The straightforward path: every line split and judged by :meth:`_line`."""
        literals = self.literals
        ls = start
        while ls < end:
            le = buf.find(b"\n", ls, end)
            if le < 0:
                le = end
            line = buf[ls:le].rstrip(b"\r")
            self._line(line, ls, any(lit in line for lit in literals))
            ls = le + 1

    def _line_of(self, ls: int) -> int:
        """The 1-based line number of the record starting at ``ls`` in the current block."""
        self._cnt_line += self._cnt_buf.count(b"\n", self._cnt_at, ls)
        self._cnt_at = ls
        return self._cnt_line + 1

    # -- one interesting record ----------------------------------------------------------
    def _line(self, line: bytes, ls: int, literal: bool) -> None:
        layout = self.layout
        assert layout is not None
        parts, repaired = w3c.split_record(line, layout)
        if repaired:  # counted for the records that are split (every record on the straightforward path)
            self.result.repaired += 1
        ix, n = self.ix, len(parts)

        def raw(role: str) -> bytes | None:  # Layout.get, inlined for the hot path
            i = ix.get(role)
            if i is None or i >= n:
                return None
            v = parts[i]
            return None if v == b"-" else v

        status = w3c.as_int(raw("status"))
        if not literal and status not in _STATUSES and not (layout.tmg and status and 12200 <= status <= 12399):
            return  # a prefilter hit on another column (time-taken = 401 …)
        date, tm = raw("date"), raw("time")
        time = (date + b"T" + tm).decode("ascii", "replace") if date and tm else None
        if (self.filters.since or self.filters.until) and not self.filters.in_time(time):
            return
        url_raw = raw("url") or b""
        if self.url_rx is not None and not self.url_rx.match(w3c.unescape(url_raw)):
            return
        sub = w3c.as_int(raw("substatus"))
        win32 = w3c.as_int(raw("win32"))
        key = (raw("client") or b"", url_raw.lower())
        xff_raw = raw("xff")
        if status == 401 and not literal and xff_raw is None and not layout.tmg and win32 in _HANDSHAKE_STEPS:
            self._three_401(key, time, sub, win32, "")  # the normal first two 401s: state only
            return
        url = w3c.unescape(url_raw)
        client = w3c.unescape(key[0])
        shown = f"{status}.{sub}" if sub is not None else str(status)
        detail = f"{shown} win32 {win32}" if win32 is not None else shown
        xff = w3c.unescape(xff_raw)
        codes: list[tuple[str, str | None]] = []
        if status in (401, 403) and win32 is not None and win32 < 2**32:
            codes.extend((code, detail) for code in _codes_for_number(win32))
            if win32 in _WIN32_EXTRA:
                codes.append((_WIN32_EXTRA[win32], detail))
        if status == 403 and sub in _403_SUB:
            codes.append((_403_SUB[sub], detail))
        if status == 401:
            codes.extend(self._three_401(key, time, sub, win32, detail))
        if xff and status in (401, 403):
            codes.append(("ntlm-proxy-in-path", f"{shown} via X-Forwarded-For"))
        if layout.tmg and status is not None:
            codes.extend(self._tmg(status, parts))
        if literal:
            codes.extend(self._literal_codes(line, parts, shown))
        if not codes:
            return
        host = w3c.unescape(raw("host"))
        endpoint = f"{host}{url}" if host else url
        where = f"{self.result.path}:{self._line_of(ls)}"
        for code, det in dict.fromkeys(codes):
            self.findings.add(code, time=time, where=where, endpoint=endpoint, client=xff or client,
                              detail=det)

    def _literal_codes(self, line: bytes, parts: list[bytes], shown: str) -> list[tuple[str, str | None]]:
        layout = self.layout
        assert layout is not None
        from bridgehead.wire import authsummary

        codes: list[tuple[str, str | None]] = []
        if b"AMProbe/OAUTH" in (layout.get(parts, "agent") or b""):
            codes.append(("oauth-probe", f"status {shown}"))
        auth_raw = layout.get(parts, "auth")
        if auth_raw is not None:
            summary = authsummary.one_line(authsummary.summarize(auth_raw.decode("ascii", "replace")))
            codes.append(("log-contains-credentials", summary))
        if b"error_category" in line:
            for m in _DIAG_RX.finditer(line.decode("utf-8", "replace")):
                codes.extend((c, f"x-ms-diagnostics {m.group(1)}") for c in _codes_for_number(int(m.group(1))))
        return codes

    def _three_401(self, key: tuple[bytes, bytes], time: str | None, sub: int | None, win32: int | None,
                   detail: str) -> list[tuple[str, str | None]]:
        t = time or ""
        if win32 is not None:
            if win32 == NTLM_CHALLENGE_STEP:
                if len(self.challenge) >= MAX_PENDING:  # bound memory on huge logs: forget old handshakes
                    self.challenge.clear()
                self.challenge[key] = t
                return []
            before = self.challenge.pop(key, None)
            if sub == 1 and win32 not in (0,) and before is not None and _seconds_between(before, t) <= 120:
                return [("ntlm-three-401", detail)]
            return []
        prev_t, n = self.recent401.get(key, ("", 0))
        n = n + 1 if prev_t and _seconds_between(prev_t, t) <= 2 else 1
        if n >= 3:
            self.recent401.pop(key, None)
            return [("ntlm-three-401", detail)]
        self.recent401[key] = (t, n)
        return []

    def _tmg(self, status: int, parts: list[bytes]) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        rule = w3c.unescape(self.layout.get(parts, "rule")) if self.layout else ""
        detail = f"TMG {status}" + (f" rule {rule}" if rule else "")
        if 12200 <= status <= 12399:
            out.extend((f.code, detail) for f in by_tmg(status))
        elif status == 408:
            out.append(("kcd-kdc-timeout-408", detail))
        elif status in (401, 403):
            out.append(("kcd-delegated-401-403", detail))
        return out


_SOURCE_IP = re.compile(r"\(([0-9A-Fa-f:.]+?)(?::\d+)?\)")


def tmg_text_findings(records: list[tmgtext.TmgRecord], path: str, findings: Findings,
                      filters: Filters) -> int:
    """Findings of TMG Log Viewer text records (see the module docstring); returns the records seen."""
    url_rx = filters.url_rx()
    for rec in records:
        status = rec.status
        if status is None:
            continue
        if (filters.since or filters.until) and not filters.in_time(rec.time):
            continue
        request = rec.fields.get("Request", "")
        target = request.split()[-1] if request.split() else ""
        if url_rx is not None and not url_rx.match(target):
            continue
        if 12200 <= status <= 12399:
            codes = [f.code for f in by_tmg(status)]
        else:
            codes = [f.code for f in by_number(status)] if status >= 10000 else []
        if not codes:
            continue
        rule = rec.fields.get("Rule", "")
        detail = f"TMG {status}" + (f" rule {rule}" if rule else "")
        source = _SOURCE_IP.search(rec.fields.get("Source", ""))
        for code in codes:
            findings.add(code, time=rec.time, where=f"{path}:{rec.line}", endpoint=target or None,
                         client=source.group(1) if source else None, detail=detail)
    return len(records)


def _seconds_between(a: str, b: str) -> float:
    """Seconds from ``a`` to ``b`` (``YYYY-MM-DDTHH:MM:SS``); large when either is unknown."""
    if len(a) < 19 or len(b) < 19:
        return 1e9
    if a[:10] != b[:10]:
        return 1e9
    try:
        ta = int(a[11:13]) * 3600 + int(a[14:16]) * 60 + int(a[17:19])
        tb = int(b[11:13]) * 3600 + int(b[14:16]) * 60 + int(b[17:19])
    except ValueError:
        return 1e9
    return abs(tb - ta)


class JsonLogScanner:
    """bridgehead's own access log: one JSON object per line (runtime/accesslog.py FIELDS)."""

    def __init__(self, result: FileResult, findings: Findings, filters: Filters) -> None:
        self.result, self.findings, self.filters = result, findings, filters
        self.url_rx = filters.url_rx()
        self.line_no = 0

    def line(self, raw: bytes) -> None:
        self.line_no += 1
        if not raw.strip():
            return
        self.result.records += 1
        if not raw.lstrip().startswith(b"{") or not raw.rstrip().endswith(b"}"):
            self.result.error(f"line {self.line_no}: not JSON")
            return
        if b'"code":null' in raw or b'"code"' not in raw:  # cheap skip of records without a failure code
            return
        try:
            rec = json.loads(raw)
        except ValueError:
            self.result.error(f"line {self.line_no}: not JSON")
            return
        if not isinstance(rec, dict):
            self.result.error(f"line {self.line_no}: not a JSON object")
            return
        code = rec.get("code")
        if not isinstance(code, str) or not code:
            return
        if code not in REGISTRY:
            self.result.error(f"line {self.line_no}: unknown failure code {code!r}")
            return
        if code in _NOT_FAILURES:  # an informational outcome, not a failure (issue 13 item 6)
            return
        time = str(rec.get("ts") or "")[:19] or None
        url = str(rec.get("url") or "")
        if not self.filters.in_time(time) or (self.url_rx is not None and not self.url_rx.match(url)):
            return
        host = rec.get("host")
        endpoint = f"{host}:{rec.get('port')}" if host else url
        detail = f"{rec.get('status')} {rec.get('action') or ''} {rec.get('reason') or ''}".strip()
        self.findings.add(code, time=time, where=f"{self.result.path}:{self.line_no}", endpoint=endpoint,
                          client=str(rec.get("client") or "") or None, detail=detail[:200])


def freb_findings(trace: freb.FrebTrace, where: str, findings: Findings, filters: Filters) -> None:
    """Findings of one FREB trace: its error codes, X-Forwarded-For next to a 401/403, logged auth."""
    from bridgehead.core.explain import explain
    from bridgehead.wire import authsummary

    if not filters.in_time(trace.time or None):
        return
    url_rx = filters.url_rx()
    if url_rx is not None and not url_rx.match(trace.url) and not url_rx.match(_path_of(trace.url)):
        return
    time = trace.time[:19] or None
    xff = trace.header("X-Forwarded-For")
    auth = trace.header("Authorization")
    decoded = authsummary.summarize(auth) if auth else None
    # Only a value that decodes as a credential counts (bridgehead's own backend logs summaries).
    summary = authsummary.one_line(decoded) if decoded and "error" not in decoded else None
    codes: list[tuple[str, str]] = []
    for err in trace.errors:
        detail = f"{err.status} {err.error_text}".strip()
        matched = by_number(err.error_code) if err.error_code is not None else []
        if not matched and err.error_text:
            matched = [m.failure for m in explain(err.error_text, limit=1).matches]
        codes.extend((f.code, detail) for f in matched)
    if xff and trace.status.startswith(("401", "403")):
        codes.append(("ntlm-proxy-in-path", f"{trace.status} via X-Forwarded-For {xff}"))
    if summary:
        codes.append(("log-contains-credentials", summary))
    for code, detail in dict.fromkeys(codes):
        findings.add(code, time=time, where=where, endpoint=_path_of(trace.url), client=xff,
                     detail=detail[:200])


def _path_of(url: str) -> str:
    _scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def event_findings(event: winevent.WinEvent, where: str, findings: Findings, filters: Filters) -> bool:
    """The best registry match of one event's text as a finding; ``False`` if nothing matched."""
    from bridgehead.core.explain import explain

    time = event.time[:19].replace(" ", "T") or None  # python-evtx writes "YYYY-MM-DD HH:MM:SS.ffffff+00:00"
    if not filters.in_time(time):
        return True
    text = event.text()
    if not any(name == "Message" for name, _ in event.data):  # data only (.evtx, wevtutil): Event Viewer's text
        text = "\n".join(t for t in (eventmessages.render(event.provider, event.event_id, event.data), text) if t)
    result = explain(f"{event.provider}\n{text}", limit=1)
    if not result.matches:
        return False
    code = result.matches[0].failure.code
    findings.add(code, time=time, where=where, endpoint=event.provider or None, client=event.computer or None,
                 detail=f"{event.provider} event {event.event_id}")
    return True


# -- Exchange HttpProxy logs and MRS move reports ------------------------------------------------

_TRANSIENT = re.compile(r"Transient error (\w+) has occurred|\b(\w+TransientException)\b|will retry \(\d+/\d+\)")
_MOVE_ERROR = re.compile(r"error|fail|exception|unable|refused|denied|unauthori[sz]ed|(?:is not|isn't) enabled|"
                         r"timed? ?out", re.I)
_BACKEND_DOWN = frozenset({502, 503, 504})


_CAUSE_SCORE = 30  # a runner-up counts as the cause of a retried MRS error only from this score on


@functools.lru_cache(maxsize=2048)
def _explained(text: str) -> tuple[tuple[str, int], ...]:
    """(code, score) ``explain`` ranks first and second for ``text`` (cached: logs repeat their errors)."""
    from bridgehead.core.explain import explain

    return tuple((m.failure.code, m.score) for m in explain(text, limit=2).matches)


class HttpProxyScanner:
    """Exchange HttpProxy CSV rows (see :mod:`bridgehead.wire.exchangelog`) into findings.

    Rules: a 502/503/504 whose BackEndStatus is empty, 0 or a 5xx → exchange-backend-unavailable; a
    row with HttpStatus ≥ 400 and an ErrorCode or GenericErrors text → also the registry entry
    ``explain`` ranks first for that text (.NET's TLS/trust texts, x-ms-diagnostics, Kerberos/NTLM
    wording): the cause; a 401/403 with an ErrorCode nothing explains → exchange-frontend-auth-failed.
    A 401 without an ErrorCode is the normal challenge (first leg of NTLM/Negotiate): no finding.
    """

    def __init__(self, result: FileResult, findings: Findings, filters: Filters) -> None:
        self.result, self.findings, self.filters = result, findings, filters
        self.url_rx = filters.url_rx()
        self.columns: dict[str, int] = {}

    def fields(self, columns: dict[str, int]) -> None:
        self.columns = columns

    def row(self, values: list[str], line: int) -> None:
        self.result.records += 1
        cols = self.columns
        if "httpstatus" not in cols:
            self.result.error(f"line {line}: record before a #Fields line with HttpStatus, not analysed")
            return

        def get(name: str) -> str:
            i = cols.get(name)
            return values[i].strip() if i is not None and i < len(values) else ""

        status_text = get("httpstatus")
        status = int(status_text) if status_text.isdigit() and len(status_text) == 3 else None
        if status is None or status < 400:
            return
        error, generic, backend = get("errorcode"), get("genericerrors"), get("backendstatus")
        time = get("datetime")[:19] or None
        url = get("urlstem")
        if (self.filters.since or self.filters.until) and not self.filters.in_time(time):
            return
        if self.url_rx is not None and not self.url_rx.match(url):
            return
        codes: list[str] = []
        if status in _BACKEND_DOWN and (not backend or backend.startswith("5") or backend == "0"):
            codes.append("exchange-backend-unavailable")
        text = "\n".join(t for t in (error, generic[:4000]) if t)
        explained = [code for code, _ in _explained(text)[:1]] if text else []
        codes.extend(c for c in explained if c not in codes)
        if status in (401, 403) and error and not explained:
            codes.append("exchange-frontend-auth-failed")
        if not codes:
            return
        host = get("urlhost")
        detail = f"HTTP {status} BackEnd {backend or '-'}" + (f" {error[:80]}" if error else "")
        for code in codes:
            self.findings.add(code, time=time, where=f"{self.result.path}:{line}", endpoint=f"{host}{url}" or None,
                              client=get("clientipaddress") or None, detail=detail)


def move_report_findings(entries: list[movereport.Entry], path: str, findings: Findings, filters: Filters) -> int:
    """Findings of MRS move report entries (wire/movereport.py); returns the entries seen.

    An entry that names an error is matched by ``explain`` (mrsproxy-disabled, NTLM/EP through a
    proxy, TLS …); an entry that says the move retries (``Transient error … has occurred``,
    ``…TransientException``) is also mrs-transient-failure, with the exception's name as detail.
    """
    for entry in entries:
        if not _MOVE_ERROR.search(entry.text):
            continue
        if (filters.since or filters.until) and not filters.in_time(entry.time):
            continue
        ranked = _explained(entry.text[:20000])
        codes = [code for code, _ in ranked[:1]]
        transient = _TRANSIENT.search(entry.text)
        if transient:
            if codes == ["mrs-transient-failure"] and len(ranked) > 1 and ranked[1][1] >= _CAUSE_SCORE:
                codes.append(ranked[1][0])  # the retried error's own cause, when explain is sure enough
            elif "mrs-transient-failure" not in codes:
                codes.append("mrs-transient-failure")
        name = (transient.group(1) or transient.group(2)) if transient else None
        for code in codes:
            detail = name if code == "mrs-transient-failure" and name else entry.text.split("\n", 1)[0][:120]
            findings.add(code, time=entry.time, where=f"{path}:{entry.line}", endpoint=None, client=entry.who,
                         detail=detail)
    return len(entries)
