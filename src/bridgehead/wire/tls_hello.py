"""TLS ClientHello parsing, sans-IO (RFC 8446 §4.1.2, §4.2; RFC 5246 §7.4.1.2; RFC 6066 §3; RFC 7301 §3.1).

The forward proxy reads the client's first flight *without answering it*, learns the
server name (SNI) and the offered ALPN protocols, and keeps the raw bytes: they are fed
to its own TLS server when it inspects, or replayed unchanged to the real server when it
splices (so the client's own certificate can reach a server that asks for one).

``read_client_hello(buf)`` returns ``None`` while more bytes are needed, a
:class:`ClientHello` once the whole handshake message is buffered (it may span several
records), and raises :class:`TlsParseError` on anything that is not a TLS ClientHello.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RECORD_HANDSHAKE = 22
HANDSHAKE_CLIENT_HELLO = 1
MAX_HELLO = 64 * 1024

EXT_SERVER_NAME = 0
EXT_ALPN = 16
EXT_SUPPORTED_VERSIONS = 43
EXT_POST_HANDSHAKE_AUTH = 49

VERSION_NAMES = {0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}


class TlsParseError(ValueError):
    """The bytes are not a well-formed TLS ClientHello."""


@dataclass(frozen=True)
class ClientHello:
    raw: bytes  # the complete records that carried the ClientHello, as received
    legacy_version: int
    sni: str | None
    alpn: tuple[str, ...]
    versions: tuple[int, ...]
    post_handshake_auth: bool
    extensions: tuple[int, ...] = field(default=())

    @property
    def max_version(self) -> str:
        best = max(self.versions) if self.versions else self.legacy_version
        return VERSION_NAMES.get(best, hex(best))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TlsParseError("ClientHello truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def vec(self, length_bytes: int) -> bytes:
        n = int.from_bytes(self.take(length_bytes), "big")
        return self.take(n)

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def looks_like_tls(first: bytes) -> bool:
    """True when ``first`` starts like a TLS handshake record (type 22, version 3.x)."""
    return len(first) >= 3 and first[0] == RECORD_HANDSHAKE and first[1] == 3


def read_client_hello(buf: bytes) -> ClientHello | None:
    """Parse the ClientHello at the start of ``buf`` or return ``None`` if incomplete."""
    payload = bytearray()
    pos = 0
    while True:
        if len(buf) - pos < 5:
            return None
        ctype, major, length = buf[pos], buf[pos + 1], int.from_bytes(buf[pos + 3 : pos + 5], "big")
        if ctype != RECORD_HANDSHAKE or major != 3:
            raise TlsParseError("not a TLS handshake record (is the client speaking plain HTTP to a TLS port?)")
        if length == 0 or length > 16384 + 256:
            raise TlsParseError(f"invalid TLS record length {length}")
        if len(buf) - pos - 5 < length:
            return None
        payload += buf[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if len(payload) >= 4:
            if payload[0] != HANDSHAKE_CLIENT_HELLO:
                raise TlsParseError(f"first handshake message is type {payload[0]}, not ClientHello")
            need = int.from_bytes(payload[1:4], "big") + 4
            if need > MAX_HELLO:
                raise TlsParseError("ClientHello larger than 64 KiB")
            if len(payload) >= need:
                if len(payload) > need:
                    raise TlsParseError("unexpected data after ClientHello in the same record")
                return _parse_body(bytes(payload[4:need]), bytes(buf[:pos]))
        if pos > MAX_HELLO:
            raise TlsParseError("ClientHello larger than 64 KiB")


def _parse_body(body: bytes, raw: bytes) -> ClientHello:
    r = _Reader(body)
    legacy_version = r.u16()
    r.take(32)  # random
    session_id = r.vec(1)
    if len(session_id) > 32:
        raise TlsParseError("session id longer than 32 bytes")
    suites = r.vec(2)
    if not suites or len(suites) % 2:
        raise TlsParseError("malformed cipher suite list")
    r.vec(1)  # compression methods
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    versions: tuple[int, ...] = ()
    pha = False
    ext_types: list[int] = []
    if r.left:
        ext = _Reader(r.vec(2))
        while ext.left:
            etype = ext.u16()
            edata = ext.vec(2)
            ext_types.append(etype)
            if etype == EXT_SERVER_NAME:
                sni = _parse_sni(edata)
            elif etype == EXT_ALPN:
                alpn = _parse_alpn(edata)
            elif etype == EXT_SUPPORTED_VERSIONS:
                versions = _parse_versions(edata)
            elif etype == EXT_POST_HANDSHAKE_AUTH:
                pha = True
    if r.left:
        raise TlsParseError("trailing bytes after ClientHello extensions")
    return ClientHello(raw, legacy_version, sni, alpn, versions, pha, tuple(ext_types))


def _parse_sni(data: bytes) -> str | None:
    r = _Reader(_Reader(data).vec(2))
    while r.left:
        name_type = r.u8()
        name = r.vec(2)
        if name_type == 0:
            try:
                host = name.decode("ascii")
            except UnicodeDecodeError:
                raise TlsParseError("server name is not ASCII (RFC 6066 §3)") from None
            if not host or any(c in host for c in " /\\\x00") or len(host) > 253:
                raise TlsParseError("malformed server name")
            return host.rstrip(".").lower()
    return None


def _parse_alpn(data: bytes) -> tuple[str, ...]:
    r = _Reader(_Reader(data).vec(2))
    out = []
    while r.left:
        proto = r.vec(1)
        if not proto:
            raise TlsParseError("empty ALPN protocol name (RFC 7301 §3.1)")
        out.append(proto.decode("latin-1"))
    return tuple(out)


def _parse_versions(data: bytes) -> tuple[int, ...]:
    raw = _Reader(data).vec(1)
    if len(raw) % 2:
        raise TlsParseError("malformed supported_versions")
    return tuple(int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2))
