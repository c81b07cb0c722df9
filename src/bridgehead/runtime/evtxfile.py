"""Windows ``.evtx`` files read directly, as admins copy them off a server (python-evtx).

The file (``ElfFile\\0`` header, 64 KiB ``ElfChnk\\0`` chunks of binary-XML records) is memory
mapped, or read whole when it came gzip-compressed (at most :data:`MAX_EVTX` bytes). Each record
is rendered to Event XML by python-evtx and then goes the way of an exported event: the Event
XML reader (:mod:`bridgehead.wire.winevent`, defusedxml) and the one event → finding mapping
(:func:`bridgehead.core.logscan.event_findings`). A header or chunk whose CRC32 does not match
is reported and read anyway (a log copied from a live system is often "dirty"); a chunk without
its signature, a record without the ``0x2a2a`` magic or one python-evtx cannot render is one
error line each, and the rest of the file is still read.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import IO, Any

from bridgehead.core import logscan
from bridgehead.core.logscan import FileResult, Filters, Findings
from bridgehead.wire import winevent

MAGIC = b"ElfFile\x00"
MAX_EVTX = 256 * 1024 * 1024  # compressed input is decompressed into memory up to this size
CHUNK = 0x10000
RECORD_MAGIC = 0x00002A2A


def scan(path: Path, fh: IO[bytes], compressed: bool, result: FileResult, findings: Findings,
         filters: Filters) -> None:
    """Records of the ``.evtx`` at ``path`` (``fh`` positioned at its start) into ``findings``."""
    if compressed:
        data = fh.read(MAX_EVTX + 1)
        if len(data) > MAX_EVTX:
            result.error(f"larger than {MAX_EVTX} bytes once decompressed, not read")
            return
        _scan_buffer(data, result, findings, filters)
        return
    with open(path, "rb") as raw, mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        _scan_buffer(buf, result, findings, filters)


def _scan_buffer(buf: Any, result: FileResult, findings: Findings, filters: Filters) -> None:
    try:
        from Evtx.Evtx import FileHeader  # python-evtx is imported only when an .evtx file is read
    except ImportError:
        result.error("python-evtx is not installed (pip install python-evtx): .evtx not read")
        return
    if len(buf) < 0x1000 or bytes(buf[:8]) != MAGIC:
        result.error("not an EVTX file (no ElfFile header)")
        return
    header = FileHeader(buf, 0)
    if header.major_version() != 3:
        result.error(f"EVTX version {header.major_version()}.{header.minor_version()}: not read (expected 3.x)")
        return
    if header.checksum() != header.calculate_checksum():
        result.error("file header CRC32 mismatch (a copy of a live log?): read anyway")
    declared = header.chunk_count()
    present = max(0, (len(buf) - header.header_chunk_size()) // CHUNK)
    if present < declared:
        result.error(f"truncated: {declared} chunks declared, {present} present")
    for n, chunk in enumerate(header.chunks(), 1):
        if not chunk.check_magic():
            result.error(f"chunk {n}: no ElfChnk signature, skipped")
            continue
        try:
            crc_ok = chunk.calculate_header_checksum() == chunk.header_checksum() and \
                chunk.calculate_data_checksum() == chunk.data_checksum()
        except Exception as exc:  # python-evtx on hostile input raises anything
            result.error(f"chunk {n}: unreadable header ({type(exc).__name__}), skipped")
            continue
        if not crc_ok:
            result.error(f"chunk {n}: CRC32 mismatch: read anyway")
        _chunk_records(n, chunk, result, findings, filters)


def _chunk_records(n: int, chunk: Any, result: FileResult, findings: Findings, filters: Filters) -> None:
    records = chunk.records()
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except Exception as exc:  # python-evtx on hostile input raises anything
            result.error(f"chunk {n}: record list unreadable ({type(exc).__name__}), rest of the chunk skipped")
            return
        try:
            if record.magic() != RECORD_MAGIC:
                result.error(f"chunk {n}: record without its 0x2a2a signature, rest of the chunk skipped")
                return
            number = record.record_num()
            xml = record.xml()
        except Exception as exc:  # python-evtx on hostile input raises anything
            result.error(f"chunk {n}: a record python-evtx cannot render ({type(exc).__name__}), skipped")
            continue
        result.records += 1
        try:
            events = winevent.parse(xml.encode("utf-8"))
        except winevent.EventXmlError as exc:
            result.error(f"record {number}: {exc}")
            continue
        for ev in events:
            logscan.event_findings(ev, f"{result.path}#record{number}", findings, filters)
