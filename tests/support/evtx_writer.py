"""A small writer of Windows EVTX files, for tests: no third-party binary is committed.

The format (libyal's "Windows XML Event Log (EVTX) format" document; python-evtx's reader):

* file header, 4 KiB: ``ElfFile\\0``, oldest chunk, current chunk number, next record number,
  header size 0x80, minor 1 / major 3, header block size 0x1000, chunk count, flags at 0x78 and a
  CRC32 of the first 0x78 bytes at 0x7C;
* chunks of 64 KiB: ``ElfChnk\\0``, first/last record numbers (file and log), header size 0x80,
  last and next record offsets, CRC32 of the record data (0x200 … next record offset) at 0x34,
  CRC32 of the header (0x00-0x78 and 0x80-0x200) at 0x7C, then the 64-bucket string table and the
  32-bucket template table (0x80, 0x180), records from 0x200;
* records: ``0x2a2a`` magic, size, record number, FILETIME, binary XML, size again.

Each record's binary XML is what Windows writes: a fragment header, a template instance and the
substitution values after it. The first record of a shape in a chunk carries the template
definition after its instance (resident); later records of that shape refer to it by offset,
and the chunk's template table (chained through the definitions' next-offset field) finds it.
The template holds the element tree (``Event/System/...``, ``EventData/Data``) with every value
as a substitution (``0x0D``), as wevtsvc does. Element and attribute names are stored once per chunk
and found through the chunk's string table afterwards (hash: ``hash * 65599 + char``, 16 bits).
Only what a reader needs is written; checksums are real, so a reader that verifies them can.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

NS = "http://schemas.microsoft.com/win/2004/08/events/event"
CHUNK = 0x10000
HEADER_BLOCK = 0x1000
_WSTRING, _UINT16, _UINT64, _FILETIME = 0x01, 0x06, 0x0A, 0x11
_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
# (name, attributes as (name, substitution), content): an element of the template
_Tree = tuple[str, list[tuple[str, tuple[int, int]]], "list[_Tree] | tuple[int, int] | None"]


@dataclass
class Event:
    """One event as Event Viewer shows it: System fields and EventData (named or positional) values."""

    provider: str
    event_id: int
    time: dt.datetime
    data: list[tuple[str | None, str]] = field(default_factory=list)
    level: int = 2
    channel: str = "System"
    computer: str = "EX01.corp.example"
    provider_guid: str | None = None


def _filetime(t: dt.datetime) -> int:
    delta = t.astimezone(dt.UTC) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _name_hash(name: str) -> int:
    h = 0
    for ch in name:
        h = (h * 65599 + ord(ch)) & 0xFFFFFFFF
    return h & 0xFFFF


class _Chunk:
    """One 64 KiB chunk being filled with records."""

    def __init__(self, first_record: int) -> None:
        self.data = bytearray(0x200)
        self.first = first_record
        self.last = first_record - 1
        self.last_offset = 0
        self.strings: dict[str, int] = {}
        self.string_buckets = [0] * 64
        self.template_buckets = [0] * 32
        self.templates: dict[tuple[bool, tuple[bool, ...]], tuple[bytes, int]] = {}

    # -- binary XML of one record ---------------------------------------------------------
    def _name(self, out: bytearray, base: int, name: str) -> int:
        """The chunk offset of ``name``; written inline at ``base + len(out)`` the first time."""
        if name in self.strings:
            return self.strings[name]
        offset = base + len(out)
        h = _name_hash(name)
        bucket = h % 64
        out += struct.pack("<IHH", self.string_buckets[bucket], h, len(name)) + name.encode("utf-16-le") + b"\0\0"
        self.string_buckets[bucket] = offset
        self.strings[name] = offset
        return offset

    def _element(self, out: bytearray, base: int, name: str, attrs: list[tuple[str, tuple[int, int]]],
                 content: list[_Tree] | tuple[int, int] | None) -> None:
        """An element whose attribute values and text are substitutions ``(index, type)``; ``content``
        is a substitution, a list of child elements or ``None`` (an empty element)."""
        start = len(out)
        out += bytes([0x41 if attrs else 0x01]) + struct.pack("<HI", 0xFFFF, 0)  # token, dependency id, size
        ref = len(out)
        out += b"\0\0\0\0"
        struct.pack_into("<I", out, ref, self._name(out, base, name))  # inline right here the first time
        if attrs:
            list_at = len(out)
            out += b"\0\0\0\0"
            for i, (attr, (index, vtype)) in enumerate(attrs):
                out.append(0x46 if i + 1 < len(attrs) else 0x06)  # 0x40: another attribute follows
                ref = len(out)
                out += b"\0\0\0\0"
                struct.pack_into("<I", out, ref, self._name(out, base, attr))
                out += struct.pack("<BHB", 0x0D, index, vtype)
            struct.pack_into("<I", out, list_at, len(out) - list_at - 4)
        if content is None:
            out.append(0x03)  # close empty element
        else:
            out.append(0x02)  # close start element
            if isinstance(content, tuple):
                out += struct.pack("<BHB", 0x0D, content[0], content[1])
            else:
                for child in content:
                    self._element(out, base, *child)
            out.append(0x04)  # close element
        struct.pack_into("<I", out, start + 3, len(out) - start - 7)

    def _binxml(self, base: int, ev: Event, record_id: int) -> bytes:
        values: list[tuple[bytes, int]] = []

        def sub(value: str | int | dt.datetime, vtype: int = _WSTRING) -> tuple[int, int]:
            if vtype == _UINT16:
                raw = struct.pack("<H", int(value))  # type: ignore[arg-type]
            elif vtype == _UINT64:
                raw = struct.pack("<Q", int(value))  # type: ignore[arg-type]
            elif vtype == _FILETIME:
                assert isinstance(value, dt.datetime)
                raw = struct.pack("<Q", _filetime(value))
            else:
                raw = str(value).encode("utf-16-le")
            values.append((raw, vtype))
            return len(values) - 1, vtype

        provider_attrs = [("Name", sub(ev.provider))]
        if ev.provider_guid:
            provider_attrs.append(("Guid", sub(ev.provider_guid)))
        system: list[_Tree] = [
            ("Provider", provider_attrs, None),
            ("EventID", [], sub(ev.event_id, _UINT16)),
            ("Level", [], sub(ev.level, _UINT16)),
            ("TimeCreated", [("SystemTime", sub(ev.time, _FILETIME))], None),
            ("EventRecordID", [], sub(record_id, _UINT64)),
            ("Channel", [], sub(ev.channel)),
            ("Computer", [], sub(ev.computer)),
        ]
        data: list[_Tree] = [("Data", [("Name", sub(n))] if n is not None else [], sub(v)) for n, v in ev.data]
        tree: list[_Tree] = [("System", [], system), ("EventData", [], data)]
        out = bytearray(b"\x0f\x01\x01\x00")  # fragment header
        instance_at = len(out)
        out += b"\x0c\x01" + b"\0" * 8  # template instance: token, unknown, template id, template offset
        shape = (ev.provider_guid is not None, tuple(n is not None for n, _ in ev.data))
        known = self.templates.get(shape)
        if known is not None:  # the chunk holds this template already: refer to it (as wevtsvc does)
            scratch = bytearray(b"\x0f\x01\x01\x00")  # its names are in the chunk: only the values matter
            self._element(scratch, base, "Event", [("xmlns", sub(NS))], tree)
            template_id, template_offset = known
        else:
            template_at = len(out)
            out += b"\0" * 0x18  # template definition: next offset, GUID, data size
            body_at = len(out)
            out += b"\x0f\x01\x01\x00"
            self._element(out, base, "Event", [("xmlns", sub(NS))], tree)
            out.append(0x00)  # end of stream
            digest = hashlib.md5(bytes(out[body_at:]), usedforsecurity=False).digest()  # stands in for the GUID
            bucket = int.from_bytes(digest[:4], "little") % 32
            template_id, template_offset = digest[:4], base + template_at
            struct.pack_into("<I16sI", out, template_at, self.template_buckets[bucket], digest, len(out) - body_at)
            self.template_buckets[bucket] = template_offset  # chained through the definitions' next offset
            self.templates[shape] = (template_id, template_offset)
        struct.pack_into("<4sI", out, instance_at + 2, template_id, template_offset)
        out += struct.pack("<I", len(values))
        for raw, vtype in values:
            out += struct.pack("<HBB", len(raw), vtype, 0)
        for raw, _ in values:
            out += raw
        return bytes(out)

    def add(self, ev: Event, record_id: int) -> bool:
        """Append a record; ``False`` (chunk unchanged) when it does not fit."""
        saved = (dict(self.strings), list(self.string_buckets), list(self.template_buckets), dict(self.templates))
        offset = len(self.data)
        body = self._binxml(offset + 0x18, ev, record_id)
        size = 0x18 + len(body) + 4
        size += -size % 8
        if offset + size > CHUNK:
            self.strings, self.string_buckets, self.template_buckets, self.templates = saved
            return False
        rec = struct.pack("<4sIQQ", b"\x2a\x2a\0\0", size, record_id, _filetime(ev.time)) + body
        rec += b"\0" * (size - 4 - len(rec)) + struct.pack("<I", size)
        self.data += rec
        self.last, self.last_offset = record_id, offset
        return True

    def finish(self) -> bytes:
        buf = bytearray(self.data) + b"\0" * (CHUNK - len(self.data))
        struct.pack_into("<8sQQQQIIII", buf, 0, b"ElfChnk\0", self.first, self.last, self.first, self.last,
                         0x80, self.last_offset, len(self.data), 0)
        struct.pack_into("<64I", buf, 0x80, *self.string_buckets)
        struct.pack_into("<32I", buf, 0x180, *self.template_buckets)
        struct.pack_into("<I", buf, 0x34, zlib.crc32(bytes(buf[0x200:len(self.data)])))
        struct.pack_into("<I", buf, 0x7C, zlib.crc32(bytes(buf[:0x78]) + bytes(buf[0x80:0x200])))
        return bytes(buf)


def evtx_bytes(events: list[Event]) -> bytes:
    """A complete .evtx file holding ``events`` (record numbers from 1)."""
    chunks = [_Chunk(1)]
    for n, ev in enumerate(events, 1):
        if not chunks[-1].add(ev, n):
            chunks.append(_Chunk(n))
            if not chunks[-1].add(ev, n):
                raise ValueError(f"event {n} does not fit in one chunk")
    header = bytearray(HEADER_BLOCK)
    struct.pack_into("<8sQQQIHHHH", header, 0, b"ElfFile\0", 0, len(chunks) - 1, len(events) + 1, 0x80, 1, 3,
                     HEADER_BLOCK, len(chunks))
    struct.pack_into("<I", header, 0x7C, zlib.crc32(bytes(header[:0x78])))
    return bytes(header) + b"".join(c.finish() for c in chunks)


def write_evtx(path: Path, events: list[Event]) -> Path:
    path.write_bytes(evtx_bytes(events))
    return path
