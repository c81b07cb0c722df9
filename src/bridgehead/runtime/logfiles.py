"""Opening log files for ``bridgehead logs``: walk, gunzip, sniff the format, feed the scanners.

Each path may be a file or a directory (walked, sorted). ``.gz`` is recognised by its magic
bytes, not its name. The format is sniffed from the first 64 KiB: W3C (``#Software``/
``#Fields``; TMG when its field names appear), FREB (``<failedRequest``), Windows Event XML
(``<Event``), Windows ``.evtx`` files (``ElfFile`` magic; :mod:`bridgehead.runtime.evtxfile`),
bridgehead's JSON access log (``{`` with ``"ts"``), Exchange HttpProxy CSV (``#Log-type: HttpProxy``
or its ``#Fields: DateTime,RequestId,…`` line; csv module), TMG Log Viewer text and MRS move
reports (MRS/move exception wording, :mod:`bridgehead.wire.movereport`). UTF-16 files (BOM) are
transcoded. Every problem is one error line on that file's result; the rest of the input is
still scanned. Nothing here interprets records: that is :mod:`bridgehead.core.logscan`.

The FREB filter (:func:`freb_filter`) reads only the first 8 KiB of each file to match the
root's ``url`` and ``statusCode`` before parsing a candidate in full (defusedxml).
"""

from __future__ import annotations

import csv
import fnmatch
import gzip
import io
import os
import re
import shutil
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bridgehead.core import logscan
from bridgehead.core.logscan import FileResult, Filters, Findings
from bridgehead.failures import by_number
from bridgehead.runtime import evtxfile
from bridgehead.wire import exchangelog, freb, movereport, tmgtext, w3c, winevent

BLOCK = 8 * 1024 * 1024
SNIFF = 64 * 1024
MAX_XML = 64 * 1024 * 1024
FREB_HEAD = 8 * 1024

Progress = Callable[[int], None]


def walk(paths: list[Path]) -> Iterator[Path]:
    """Files named by ``paths``, directories walked in sorted order (symlinked dirs not followed)."""
    for p, _explicit in walk_named(paths):
        yield p


def walk_named(paths: list[Path]) -> Iterator[tuple[Path, bool]]:
    """Like :func:`walk`, with ``True`` for files named explicitly (not found in a directory)."""
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    yield Path(root) / name, False
        else:
            yield p, True


def _open(path: Path) -> IO[bytes]:
    fh: IO[bytes] = open(path, "rb")
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


def _utf16(fh: IO[bytes]) -> IO[bytes]:
    """A byte stream re-encoded to UTF-8 from a UTF-16 (BOM) stream."""
    text = io.TextIOWrapper(fh, encoding="utf-16", errors="replace")

    class _Reader(io.RawIOBase):
        buf = b""

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            while not self.buf:
                chunk = text.read(BLOCK // 4)
                if not chunk:
                    return 0
                self.buf = chunk.encode("utf-8")
            n = min(len(b), len(self.buf))
            b[:n] = self.buf[:n]
            self.buf = self.buf[n:]
            return n

    return io.BufferedReader(_Reader(), BLOCK)


def sniff(head: bytes) -> str:
    """``iis`` | ``tmg`` | ``httpproxy-csv`` | ``freb`` | ``event-xml`` | ``evtx`` | ``bridgehead-json`` | ``tmg-text``
    | ``move-report`` | ``unknown`` | ``binary``."""
    if head.startswith(evtxfile.MAGIC):
        return "evtx"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"#") and exchangelog.looks_like(head[:16384].decode("utf-8", "replace")):
        return "httpproxy-csv"
    if stripped.startswith(b"#TYPE ") and movereport.looks_like(head.decode("utf-8", "replace")):
        return "move-report"  # Export-Csv of Get-MoveRequestStatistics / Get-MigrationUserStatistics
    if stripped.startswith(b"#"):
        fields = re.search(rb"^#Fields:([^\n]*)", stripped, re.M)
        if fields is not None:
            names = set(fields.group(1).decode("ascii", "replace").lower().split())
            if len(names & w3c.TMG_MARKERS) >= 2:
                return "tmg"
        return "iis"
    if b"<failedRequest" in head:
        return "freb"
    if re.search(rb"<Event[\s>]", head) or b"<Events" in head:
        return "event-xml"
    if stripped.startswith(b"{") and b'"ts"' in head[:4096]:
        return "bridgehead-json"
    if tmgtext.looks_like(head[:65536].decode("utf-8", "replace")):
        return "tmg-text"
    if b"\x00" not in head[:4096] and movereport.looks_like(head[:65536].decode("utf-8", "replace")):
        return "move-report"
    if b"\x00" in head[:4096]:
        return "binary"
    return "unknown"


@dataclass
class ScanReport:
    files: list[FileResult] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)

    def as_dict(self) -> dict[str, Any]:
        return {"files": [f.as_dict() for f in self.files], "findings": self.findings.as_list()}


def scan(paths: list[Path], filters: Filters, progress: Progress | None = None) -> ScanReport:
    """Scan every file under ``paths``; one :class:`FileResult` per file, findings merged."""
    report = ScanReport()
    for path, explicit in walk_named(paths):
        result = FileResult(path=str(path), format="unknown")
        try:
            _scan_file(path, result, report.findings, filters, progress)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            result.error(f"read error: {type(exc).__name__}: {exc}")
        except (ValueError, UnicodeError) as exc:
            result.error(f"unusable content: {exc}")
        except RecursionError:
            result.error("unusable content: nesting too deep")
        if result.errors and result.format == "unknown" and not result.errors[0].startswith("unrecognised"):
            result.format = "unreadable"
        if explicit or result.format != "unknown":  # other files found in a directory (freb.xsl) are skipped
            report.files.append(result)
    return report


def _scan_file(path: Path, result: FileResult, findings: Findings, filters: Filters,
               progress: Progress | None) -> None:
    with _open(path) as raw:
        fh: IO[bytes] = raw
        head = fh.read(SNIFF)
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with BOM: transcode to UTF-8
            fh = _utf16(io.BufferedReader(_Prepend(head, raw)))
            head = fh.read(SNIFF)
        kind = sniff(head)
        result.format = kind
        if kind in ("iis", "tmg"):
            scanner = logscan.W3cScanner(result, findings, filters)
            data = head
            while data:
                scanner.feed(data)
                if progress:
                    progress(len(data))
                data = fh.read(BLOCK)
            scanner.close()
        elif kind == "bridgehead-json":
            js = logscan.JsonLogScanner(result, findings, filters)
            for line in _bounded_lines(io.BufferedReader(_Prepend(head, fh), BLOCK), result):
                js.line(line)
        elif kind == "tmg-text":  # TMG/ISA Log Viewer text copied out of the console
            body = head + fh.read(tmgtext.MAX_TEXT + 1 - len(head))
            if len(body) > tmgtext.MAX_TEXT:
                result.error(f"larger than {tmgtext.MAX_TEXT} bytes, only the first part read")
            records = tmgtext.parse(body[: tmgtext.MAX_TEXT].decode("utf-8", "replace"))
            result.records += logscan.tmg_text_findings(records, result.path, findings, filters)
        elif kind in ("freb", "event-xml"):
            body = head + fh.read(MAX_XML + 1 - len(head))
            if len(body) > MAX_XML:
                result.error(f"larger than {MAX_XML} bytes, not parsed")
                return
            _scan_xml(kind, body, result, findings, filters)
        elif kind == "httpproxy-csv":  # Exchange front end (HttpProxy) logs
            _scan_httpproxy(io.BufferedReader(_Prepend(head, fh), BLOCK), result, findings, filters)
        elif kind == "move-report":  # MRS move report, Format-List dump or Export-Csv
            body = head + fh.read(movereport.MAX_TEXT + 1 - len(head))
            if len(body) > movereport.MAX_TEXT:
                result.error(f"larger than {movereport.MAX_TEXT} bytes, only the first part read")
            entries = movereport.parse(body[: movereport.MAX_TEXT].decode("utf-8", "replace"))
            result.records += logscan.move_report_findings(entries, result.path, findings, filters)
        elif kind == "evtx":  # Windows event log file, read directly
            raw.seek(0)
            evtxfile.scan(path, raw, isinstance(raw, gzip.GzipFile), result, findings, filters)
        elif kind == "binary":
            result.error("binary content (NUL bytes): not a log format bridgehead reads")
        else:
            result.error("unrecognised format (expected IIS/TMG W3C, TMG Log Viewer text, Exchange HttpProxy CSV, "
                         "MRS move report, FREB XML, Event XML, .evtx or bridgehead JSON)")


def _scan_httpproxy(reader: io.BufferedReader, result: FileResult, findings: Findings, filters: Filters) -> None:
    """HttpProxy CSV: ``#`` header lines set the columns, the rest goes through the csv module."""
    scanner = logscan.HttpProxyScanner(result, findings, filters)
    line_no = 0

    def data_lines() -> Iterator[str]:
        nonlocal line_no
        for raw in _bounded_lines(reader, result):
            line_no += 1
            text = raw.decode("utf-8", "replace").lstrip("\ufeff")
            if text.startswith(exchangelog.FIELDS_PREFIX):
                scanner.fields(exchangelog.parse_fields(text.rstrip("\r\n")))
            elif text.strip() and not text.startswith("#"):
                yield text

    rows = csv.reader(data_lines())
    while True:
        try:
            values = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            result.error(f"line {line_no}: not CSV ({exc})")
            continue
        scanner.row(values, line_no)


def _bounded_lines(reader: io.BufferedReader, result: FileResult) -> Iterator[bytes]:
    """Lines of at most MAX_LINE bytes; longer ones are reported and skipped (never held whole)."""
    n = 0
    while True:
        line = reader.readline(logscan.MAX_LINE + 1)
        if not line:
            return
        n += 1
        if len(line) > logscan.MAX_LINE and not line.endswith(b"\n"):
            result.error(f"line {n}: longer than {logscan.MAX_LINE} bytes, skipped")
            while line and not line.endswith(b"\n"):
                line = reader.readline(BLOCK)
            yield b""
            continue
        yield line


def _scan_xml(kind: str, body: bytes, result: FileResult, findings: Findings, filters: Filters) -> None:
    if kind == "freb":
        try:
            trace = freb.parse(body)
        except freb.FrebError as exc:
            result.error(str(exc))
            return
        result.records = 1
        logscan.freb_findings(trace, result.path, findings, filters)
        return
    try:
        events = winevent.parse(body)
    except winevent.EventXmlError as exc:
        result.error(str(exc))
        return
    result.records = len(events)
    for i, ev in enumerate(events, 1):
        where = f"{result.path}#event{i}" + (f"(record {ev.record_id})" if ev.record_id else "")
        logscan.event_findings(ev, where, findings, filters)


class _Prepend(io.RawIOBase):
    """A raw stream that yields ``head`` and then the rest of ``rest``."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(b))
        b[: len(data)] = data
        return len(data)


# -- the FREB filter -------------------------------------------------------------------------

@dataclass
class FrebMatch:
    path: str
    time: str
    url: str
    verb: str
    status: str
    auth_type: str
    errors: list[dict[str, Any]]
    x_forwarded_for: str | None
    authorization: str | None
    copied_to: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FrebReport:
    scanned: int = 0
    matches: list[FrebMatch] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.I)  # PowerShell -like: case-insensitive


def freb_filter(directory: Path, url: str, header: str | None = None, status: int | None = None,
                copy_to: Path | None = None) -> FrebReport:
    """FREB files under ``directory`` whose URL (and headers, status) match; optionally copied."""
    report = FrebReport()
    url_rx = _glob(url)
    header_rx = _glob(header) if header else None
    want_status = str(status) if status is not None else None
    if copy_to is not None:
        copy_to.mkdir(parents=True, exist_ok=True)
    xsl_copied: set[Path] = set()
    for path in walk([directory]):
        if path.suffix.lower() != ".xml" or (copy_to is not None and copy_to in path.parents):
            continue
        report.scanned += 1
        try:
            with open(path, "rb") as fh:
                head = fh.read(FREB_HEAD)
                root = freb.peek_root(head)
                if root is None:
                    continue
                if not (url_rx.match(root.get("url", "")) or url_rx.match(_path(root.get("url", "")))):
                    continue
                if want_status and root.get("statusCode", "").split(".")[0] != want_status:
                    continue
                trace = freb.parse(head + fh.read(freb.MAX_FREB_BYTES))
        except (OSError, freb.FrebError) as exc:
            report.errors.append(f"{path}: {exc}")
            continue
        if header_rx is not None and not header_rx.match(trace.headers):
            continue
        match = _describe(path, trace)
        if copy_to is not None:
            target = copy_to / path.name
            shutil.copy2(path, target)
            match.copied_to = str(target)
            xsl = path.parent / "freb.xsl"
            if xsl.is_file() and path.parent not in xsl_copied:
                shutil.copy2(xsl, copy_to / "freb.xsl")
                xsl_copied.add(path.parent)
        report.matches.append(match)
    report.matches.sort(key=lambda m: (m.time, m.path))
    return report


def _path(url: str) -> str:
    rest = url.partition("://")[2]
    return rest[rest.find("/"):] if "/" in rest else url


def _describe(path: Path, trace: freb.FrebTrace) -> FrebMatch:
    errors = []
    for err in trace.errors:
        codes = [f.code for f in by_number(err.error_code)] if err.error_code is not None else []
        errors.append({"module": err.module, "notification": err.notification, "status": err.status,
                       "error": err.error_text,
                       "error_code": f"0x{err.error_code:08X}" if err.error_code is not None else None,
                       "codes": codes})
    auth = trace.header("Authorization")
    return FrebMatch(
        path=str(path), time=trace.time, url=trace.url, verb=trace.verb, status=trace.status,
        auth_type=", ".join(t for t in trace.auth_types if t) or trace.auth_type, errors=errors,
        x_forwarded_for=trace.header("X-Forwarded-For"),
        authorization=_authorization(auth) if auth else None,
    )


# bridgehead's own backend writes a decoded summary ("NTLM [412 bytes: NTLM AUTHENTICATE …]"), never a token
_OWN_SUMMARY = re.compile(r"^[A-Za-z-]{2,20} \[[^\]]{1,400}\]$")


def _authorization(value: str) -> str:
    """The decoded summary of a logged Authorization value; bridgehead's own summaries as written."""
    from bridgehead.wire import authsummary  # PyJWT/cryptography: imported when needed (logs scan start-up)

    summary = authsummary.summarize(value)
    if "error" in summary and _OWN_SUMMARY.match(value.strip()):
        return value.strip()
    return authsummary.one_line(summary)
