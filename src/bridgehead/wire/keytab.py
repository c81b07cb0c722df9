"""Parse a Kerberos keytab file (MIT/Heimdal format 0x0502) into entry summaries, never keys.

Format (MIT krb5 "keytab file format", doc/formats/keytab_file_format.rst): two bytes ``05 02``, then
records, each an int32 length (negative: a hole of that many bytes) followed by::

    uint16 num_components, counted_octet_string realm, counted_octet_string components[num],
    uint32 name_type, uint32 timestamp, uint8 vno8, uint16 enctype, counted_octet_string key,
    [uint32 vno]          # present if at least 4 bytes remain in the record; 0 means "use vno8"

All integers big-endian; ``counted_octet_string`` = uint16 length + bytes. Version 0x0501 (native byte
order) is refused. Hand-written because no maintained Python library reads keytabs without a
compiled krb5 binding; the key bytes are skipped and never kept.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ENCTYPES: dict[int, str] = {
    1: "des-cbc-crc", 3: "des-cbc-md5", 16: "des3-cbc-sha1", 17: "aes128-cts-hmac-sha1-96",
    18: "aes256-cts-hmac-sha1-96", 19: "aes128-cts-hmac-sha256-128", 20: "aes256-cts-hmac-sha384-192",
    23: "arcfour-hmac", 24: "arcfour-hmac-exp", 25: "camellia128-cts-cmac", 26: "camellia256-cts-cmac",
}
MAX_RECORD = 1 << 16


class KeytabError(ValueError):
    """The bytes are not a keytab this parser understands (one line, no key material)."""


@dataclass(frozen=True)
class KeytabEntry:
    principal: str  # components joined by "/", then "@" realm (RFC 1964 §2.1.1 display form)
    kvno: int
    enctype: int
    timestamp: int

    @property
    def enctype_name(self) -> str:
        return ENCTYPES.get(self.enctype, f"enctype-{self.enctype}")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise KeytabError(f"keytab record truncated at byte {self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def text(self) -> str:
        return self.take(self.u16()).decode("utf-8", errors="replace")

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def parse_keytab(data: bytes) -> list[KeytabEntry]:
    """Entries of a version-2 keytab; :class:`KeytabError` for anything else."""
    if len(data) < 2 or data[0] != 5:
        raise KeytabError("not a keytab (first byte is not 0x05)")
    if data[1] != 2:
        raise KeytabError(f"keytab version 0x05{data[1]:02x} not supported (only 0x0502)")
    outer = _Reader(data[2:])
    entries: list[KeytabEntry] = []
    while outer.left >= 4:
        size = struct.unpack(">i", outer.take(4))[0]
        if size == 0:
            break
        if size < 0:
            outer.take(-size)  # a hole left by a deleted entry
            continue
        if size > MAX_RECORD:
            raise KeytabError(f"keytab record of {size} bytes is implausible")
        entries.append(_entry(_Reader(outer.take(size))))
    return entries


def _entry(rec: _Reader) -> KeytabEntry:
    count = rec.u16()
    realm = rec.text()
    components = [rec.text() for _ in range(count)]
    rec.u32()  # name_type
    timestamp = rec.u32()
    kvno = rec.u8()
    enctype = rec.u16()
    rec.take(rec.u16())  # the key itself: skipped, never stored
    if rec.left >= 4:
        wide = rec.u32()
        kvno = wide or kvno
    return KeytabEntry(principal="/".join(components) + "@" + realm, kvno=kvno, enctype=enctype,
                       timestamp=timestamp)
