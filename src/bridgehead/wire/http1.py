"""HTTP/1.1 message heads and body framing, strict, sans-IO (RFC 9112).

The proxy relays bytes; it must not re-serialise bodies, reorder headers or change their
case, so this module parses a head into a :class:`RequestHead` / :class:`ResponseHead`
that keeps the raw header list, and decides the body framing (RFC 9112 §6.3). Bodies are
then relayed by :class:`ChunkedScanner` (which tracks chunk boundaries without decoding)
or by a byte count.

Written by hand rather than with h11: h11 re-frames bodies and owns the connection state,
while a transparent proxy needs byte-exact pass-through of heads it may rewrite and bodies
it must not touch. httptools (llhttp) cannot be told that a response answers a HEAD.

Strictness (request smuggling defences, RFC 9112 §6.3, §11.2):
* Content-Length and Transfer-Encoding together → error.
* Several Content-Length values that differ, or a non-numeric one → error.
* Transfer-Encoding whose final coding is not ``chunked`` on a request → error.
* Obsolete line folding, whitespace before the colon, control characters → error.
* Heads larger than the configured limit → :class:`HeadTooLarge`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024
MAX_HEADERS = 200

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FIELD_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_VERSION = re.compile(rb"^HTTP/1\.[01]$")


class HttpError(Exception):
    """A framing or syntax error; ``status`` is the answer a server gives (400 by default)."""

    status = 400
    code = "client-bad-request"


class HeadTooLarge(HttpError):
    status = 431
    code = "client-head-too-large"


@dataclass
class Headers:
    """Header fields in arrival order, names with their original case."""

    items: list[tuple[bytes, bytes]] = field(default_factory=list)

    def get(self, name: bytes) -> bytes | None:
        lname = name.lower()
        for key, value in self.items:
            if key.lower() == lname:
                return value
        return None

    def get_all(self, name: bytes) -> list[bytes]:
        lname = name.lower()
        return [v for k, v in self.items if k.lower() == lname]

    def remove(self, *names: bytes) -> None:
        drop = {n.lower() for n in names}
        self.items = [(k, v) for k, v in self.items if k.lower() not in drop]

    def set(self, name: bytes, value: bytes) -> None:
        self.remove(name)
        self.items.append((name, value))

    def connection_tokens(self) -> frozenset[bytes]:
        tokens: list[bytes] = []
        for value in self.get_all(b"connection"):
            tokens.extend(t.strip().lower() for t in value.split(b",") if t.strip())
        return frozenset(tokens)

    def serialize(self) -> bytes:
        return b"".join(k + b": " + v + b"\r\n" for k, v in self.items)


@dataclass
class RequestHead:
    method: bytes
    target: bytes
    version: bytes
    headers: Headers

    def serialize(self, target: bytes | None = None) -> bytes:
        line = self.method + b" " + (target if target is not None else self.target) + b" " + self.version
        return line + b"\r\n" + self.headers.serialize() + b"\r\n"


@dataclass
class ResponseHead:
    version: bytes
    status: int
    reason: bytes
    headers: Headers

    def serialize(self) -> bytes:
        line = self.version + b" " + str(self.status).encode() + b" " + self.reason
        return line + b"\r\n" + self.headers.serialize() + b"\r\n"


# Body framing, RFC 9112 §6.3
NO_BODY = "none"
LENGTH = "length"
CHUNKED = "chunked"
UNTIL_CLOSE = "close"


@dataclass(frozen=True)
class Framing:
    kind: str
    length: int = 0


def find_head_end(buf: bytes | bytearray, limit: int = MAX_HEAD) -> int:
    """Index just past the blank line ending a head, -1 if incomplete; raises if too large."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > limit:
            raise HeadTooLarge(f"message head larger than {limit} bytes")
        return -1
    if end + 4 > limit:
        raise HeadTooLarge(f"message head larger than {limit} bytes")
    return end + 4


def _parse_fields(lines: list[bytes]) -> Headers:
    if len(lines) > MAX_HEADERS:
        raise HeadTooLarge(f"more than {MAX_HEADERS} header fields")
    headers = Headers()
    for line in lines:
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            raise HttpError("obsolete line folding in header (RFC 9112 §5.2)")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise HttpError(f"malformed header line {line[:60]!r}")
        value = value.strip(b" \t")
        if _FIELD_VALUE_BAD.search(value):
            raise HttpError(f"control character in header {name.decode()!r}")
        headers.items.append((name, value))
    return headers


def parse_request_head(data: bytes) -> RequestHead:
    """Parse a request head (bytes up to and including the blank line)."""
    lines = data.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise HttpError(f"malformed request line {lines[0][:80]!r}")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise HttpError(f"malformed method {method[:20]!r}")
    if not target or _FIELD_VALUE_BAD.search(target) or b" " in target:
        raise HttpError("malformed request target")
    if not _VERSION.match(version):
        raise HttpError(f"unsupported HTTP version {version[:20]!r}")
    head = RequestHead(method, target, version, _parse_fields(lines[1:]))
    request_framing(head)  # validates Content-Length / Transfer-Encoding
    return head


def parse_response_head(data: bytes) -> ResponseHead:
    """Parse a response head (bytes up to and including the blank line)."""
    lines = data.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    status_text, _, reason = rest.partition(b" ")
    if not _VERSION.match(version) or len(status_text) != 3 or not status_text.isdigit():
        raise HttpError(f"malformed status line {lines[0][:80]!r}")
    return ResponseHead(version, int(status_text), reason, _parse_fields(lines[1:]))


def _content_length(headers: Headers) -> int | None:
    values = headers.get_all(b"content-length")
    if not values:
        return None
    seen = set()
    for value in values:
        for part in value.split(b","):
            seen.add(part.strip())
    if len(seen) != 1:
        raise HttpError("conflicting Content-Length values (RFC 9112 §6.3)")
    (only,) = seen
    if not only.isdigit() or len(only) > 18:
        raise HttpError("invalid Content-Length (RFC 9110 §8.6)")
    return int(only)


def _chunked_last(headers: Headers) -> bool | None:
    values = headers.get_all(b"transfer-encoding")
    if not values:
        return None
    codings = [c.strip().lower() for v in values for c in v.split(b",") if c.strip()]
    if not codings:
        raise HttpError("empty Transfer-Encoding")
    if codings.count(b"chunked") > 1 or (b"chunked" in codings and codings[-1] != b"chunked"):
        raise HttpError("chunked must be the final transfer coding, once (RFC 9112 §6.1)")
    return codings[-1] == b"chunked"


def request_framing(head: RequestHead) -> Framing:
    """How the request body is framed (RFC 9112 §6.3 rules 3-6)."""
    chunked = _chunked_last(head.headers)
    length = _content_length(head.headers)
    if chunked is not None and length is not None:
        raise HttpError("both Content-Length and Transfer-Encoding (RFC 9112 §6.3, request smuggling)")
    if chunked is not None:
        if not chunked:
            raise HttpError("request Transfer-Encoding without final chunked (RFC 9112 §6.3)")
        if head.version == b"HTTP/1.0":
            raise HttpError("Transfer-Encoding in an HTTP/1.0 request")
        return Framing(CHUNKED)
    if length:
        return Framing(LENGTH, length)
    return Framing(NO_BODY)


def response_framing(head: ResponseHead, request_method: bytes) -> Framing:
    """How the response body is framed (RFC 9112 §6.3 rules 1-7)."""
    if request_method == b"HEAD" or head.status < 200 or head.status in (204, 304):
        return Framing(NO_BODY)
    if request_method == b"CONNECT" and 200 <= head.status < 300:
        return Framing(NO_BODY)
    chunked = _chunked_last(head.headers)
    length = _content_length(head.headers)
    if chunked is not None and length is not None:
        raise HttpError("both Content-Length and Transfer-Encoding in a response (RFC 9112 §6.3)")
    if chunked:
        return Framing(CHUNKED)
    if chunked is False:
        return Framing(UNTIL_CLOSE)
    if length is not None:
        return Framing(LENGTH, length) if length else Framing(NO_BODY)
    return Framing(UNTIL_CLOSE)


def keep_alive(version: bytes, headers: Headers) -> bool:
    tokens = headers.connection_tokens()
    if b"close" in tokens:
        return False
    if version == b"HTTP/1.0":
        return b"keep-alive" in tokens
    return True


HOP_BY_HOP = (
    b"connection", b"keep-alive", b"proxy-connection", b"proxy-authenticate",
    b"proxy-authorization", b"te", b"trailer", b"upgrade",
)


def strip_hop_by_hop(headers: Headers) -> None:
    """Remove hop-by-hop fields (RFC 9110 §7.6.1), including those named in Connection.

    ``Transfer-Encoding`` stays: bodies are relayed unchanged, so their framing does too.
    """
    named = headers.connection_tokens()
    headers.remove(*HOP_BY_HOP, *named)


class ChunkedScanner:
    """Follows a chunked body as it passes through (RFC 9112 §7.1) without decoding it.

    ``feed(data)`` returns how many bytes of ``data`` belong to the body; once
    ``done`` is true the rest belongs to the next message. Trailers are passed through.
    """

    MAX_LINE = 4096

    def __init__(self) -> None:
        self.done = False
        self._state = "size"  # size | data | data_crlf | trailer
        self._remaining = 0
        self._line = bytearray()

    def feed(self, data: bytes | memoryview) -> int:
        buf = bytes(data)
        pos = 0
        n = len(buf)
        while pos < n and not self.done:
            if self._state == "data":
                take = min(self._remaining, n - pos)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "data_crlf"
                continue
            nl = buf.find(b"\n", pos)
            if nl < 0:
                self._line += buf[pos:]
                pos = n
                if len(self._line) > self.MAX_LINE:
                    raise HttpError("chunk line too long")
                break
            self._line += buf[pos : nl + 1]
            pos = nl + 1
            line = bytes(self._line)
            self._line.clear()
            self._line_done(line)
        return pos

    def _line_done(self, line: bytes) -> None:
        if not line.endswith(b"\r\n"):
            raise HttpError("chunk line not terminated by CRLF")
        body = line[:-2]
        if self._state == "data_crlf":
            if body:
                raise HttpError("missing CRLF after chunk data")
            self._state = "size"
        elif self._state == "size":
            size_text = body.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                raise HttpError(f"invalid chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                self._state = "trailer"
            else:
                self._remaining = size
                self._state = "data"
        elif self._state == "trailer":
            if not body:
                self.done = True
            elif len(body) > self.MAX_LINE:
                raise HttpError("trailer line too long")
