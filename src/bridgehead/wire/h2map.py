"""HTTP/2 ↔ HTTP/1.1 message mapping for the inspecting proxy (pure: no I/O).

* :func:`request_head` turns the header list of an h2 request (RFC 9113 §8.3.1 pseudo-header
  fields + regular fields) into a :class:`~bridgehead.wire.http1.RequestHead` that the
  HTTP/1.1 relay (``runtime.relay.exchange`` → ``wire.http1.prepare_request``) then treats
  exactly like a request read from an HTTP/1.1 client: Host comes from ``:authority``;
  connection-specific fields make the request malformed (§8.2.2); split ``cookie`` fields are
  joined with ``"; "`` (§8.2.3); a body without ``content-length`` is sent on chunked.
* :func:`response_fields` makes the h2 header list of an HTTP/1.1 response head: ``:status``
  first, names lower-cased (§8.2.2), connection-specific fields dropped.
* :class:`ChunkDecoder` decodes a chunked HTTP/1.1 body (RFC 9112 §7.1) into its data (h2
  frames carry the data itself; trailers are dropped).

The h2 → h2 direction (an origin that picked h2, ``runtime.forward.h2upstream``):

* :func:`origin_request_fields` makes the origin's header list from the same head (what
  :func:`request_head` gave, after the tunnel's host check): pseudo-header fields first with
  ``:authority`` from the proxy's Host field (the tunnel's host), hop-by-hop and
  connection-specific fields removed (RFC 9110 §7.6.1, RFC 9113 §8.2.2; ``te: trailers`` kept),
  the ``Transfer-Encoding: chunked`` that :func:`request_head` adds for the HTTP/1.1 hop dropped
  (DATA frames carry the body), the proxy's own fields (``own``) set last, replacing any field
  of the same name, as ``wire.http1.prepare_request`` does.
* :func:`relay_response_fields` / :func:`trailer_fields`: the origin's response (or interim,
  or trailer) fields made for the client: ``:status`` first, hop-by-hop and
  connection-specific fields removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bridgehead.wire.http1 import (
    HOP_BY_HOP,
    OWNED_PREFIXES,
    Headers,
    HttpError,
    RequestHead,
    ResponseHead,
    normalise_name,
)

# RFC 9113 §8.2.2: fields an h2 message must not carry (TE is allowed with the value "trailers" only)
CONNECTION_SPECIFIC = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                                 b"upgrade"})
REQUEST_PSEUDO = frozenset({b":method", b":scheme", b":authority", b":path"})
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class H2MessageError(HttpError):
    """A malformed h2 request (RFC 9113 §8.1.1): answered with a stream error or a 400."""


def request_head(fields: list[tuple[bytes, bytes]], *, end_stream: bool) -> RequestHead:
    """The HTTP/1.1 head for an h2 request; ``end_stream``: the HEADERS frame ended the stream (no body)."""
    pseudo: dict[bytes, bytes] = {}
    regular: list[tuple[bytes, bytes]] = []
    cookies: list[bytes] = []
    for name, value in fields:
        if name.startswith(b":"):
            if regular or cookies:
                raise H2MessageError("pseudo-header field after a regular field (RFC 9113 §8.3)")
            if name not in REQUEST_PSEUDO or name in pseudo:
                raise H2MessageError(f"unknown or repeated pseudo-header {name.decode('latin-1')} (RFC 9113 §8.3.1)")
            pseudo[name] = value
            continue
        if name != name.lower() or not _TOKEN.fullmatch(name):
            raise H2MessageError("field name not lower-case or not a token (RFC 9113 §8.2.1)")
        if any(c in value for c in b"\r\n\x00"):
            raise H2MessageError("CR, LF or NUL in a field value (RFC 9113 §8.2.1)")
        if name in CONNECTION_SPECIFIC or (name == b"te" and value.strip().lower() != b"trailers"):
            raise H2MessageError(f"connection-specific field {name.decode('latin-1')} in an h2 request "
                                 "(RFC 9113 §8.2.2)")
        if name == b"host":
            continue  # :authority wins (RFC 9113 §8.3.1); Host is written from it below
        if name == b"cookie":
            cookies.append(value)
            continue
        if name == b"te":  # "trailers" only: kept for an h2 origin; prepare_request removes it for HTTP/1.1
            regular.append((b"te", b"trailers"))
            continue
        regular.append((name, value))
    method = pseudo.get(b":method")
    if method is None:
        raise H2MessageError("request without :method (RFC 9113 §8.3.1)")
    if method == b"CONNECT":
        raise H2MessageError("CONNECT over h2 inside an inspected tunnel is not relayed (RFC 9113 §8.5)")
    scheme, path, authority = pseudo.get(b":scheme"), pseudo.get(b":path"), pseudo.get(b":authority")
    if scheme is None or not path:
        raise H2MessageError("request without :scheme or :path (RFC 9113 §8.3.1)")
    if scheme != b"https":
        raise H2MessageError("only https requests are relayed inside an inspected tunnel")
    if authority is None:
        host = next((v for n, v in fields if n == b"host"), None)
        if host is None:
            raise H2MessageError("request without :authority or Host (RFC 9113 §8.3.1)")
        authority = host
    if b"@" in authority:
        raise H2MessageError(":authority with userinfo (RFC 9113 §8.3.1)")
    headers = Headers([(b"Host", authority), *regular])
    if cookies:
        headers.items.append((b"cookie", b"; ".join(cookies)))  # RFC 9113 §8.2.3
    if not end_stream and headers.get(b"content-length") is None:
        headers.items.append((b"Transfer-Encoding", b"chunked"))
    return RequestHead(method, path, b"HTTP/1.1", headers)


def response_fields(head: ResponseHead) -> list[tuple[bytes, bytes]]:
    """The h2 header list of an HTTP/1.1 response head (RFC 9113 §8.3.2, §8.2.2)."""
    out = [(b":status", str(head.status).encode())]
    for name, value in head.headers.items:
        lname = name.lower()
        if lname in CONNECTION_SPECIFIC or lname in (b"te", b"trailer"):
            continue
        out.append((lname, value))
    return out


# never relayed between two h2 hops: RFC 9113 §8.2.2 and the proxy's hop-by-hop list (RFC 9110 §7.6.1)
_NOT_RELAYED = CONNECTION_SPECIFIC | frozenset(HOP_BY_HOP) | {b"host"}


def origin_request_fields(head: RequestHead, *, target: bytes | None = None,
                          own: Iterable[tuple[bytes, bytes]] = ()) -> list[tuple[bytes, bytes]]:
    """The h2 header list for an h2 origin (RFC 9113 §8.3.1) of a request :func:`request_head` mapped.

    ``target``: the origin-form target when the request had an absolute one; ``own``: the proxy's
    fields, ``Host`` among them (it becomes ``:authority``), set last. ``H2MessageError`` when no
    authority is known."""
    own = [(name.lower(), value) for name, value in own]
    authority = next((v for n, v in own if n == b"host"), None) or head.headers.get(b"host")
    if not authority:
        raise H2MessageError("request without an authority for the origin (RFC 9113 §8.3.1)")
    owned = {normalise_name(n) for n, _ in own}
    named = {t.lower() for t in head.headers.connection_tokens()}
    out = [(b":method", head.method), (b":scheme", b"https"), (b":authority", authority),
           (b":path", target if target is not None else head.target)]
    for name, value in head.headers.items:
        lname = name.lower()
        if lname == b"te":
            if value.strip().lower() == b"trailers":
                out.append((b"te", b"trailers"))  # the one TE an h2 request may carry (RFC 9113 §8.2.2)
            continue
        if lname in _NOT_RELAYED or lname in named:
            continue
        nname = normalise_name(lname)
        if nname in owned or nname.startswith(OWNED_PREFIXES):
            continue
        out.append((lname, value))
    out += [(name, value) for name, value in own if name != b"host"]
    return out


def relay_response_fields(fields: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An h2 origin's response (or 1xx) fields for the h2 client: ``:status`` first (RFC 9113 §8.3.2),
    hop-by-hop and connection-specific fields removed; ``H2MessageError`` without ``:status``."""
    status: bytes | None = None
    out: list[tuple[bytes, bytes]] = []
    for name, value in fields:
        if name == b":status":
            status = value
        elif name.startswith(b":"):
            raise H2MessageError(f"pseudo-header {name.decode('latin-1')} in a response (RFC 9113 §8.3.2)")
        elif name.lower() not in _NOT_RELAYED:
            out.append((name.lower(), value))
    if status is None:
        raise H2MessageError("response without :status (RFC 9113 §8.3.2)")
    return [(b":status", status), *out]


def trailer_fields(fields: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A trailer section passed between two h2 hops: no pseudo-header fields (RFC 9113 §8.1), hop-by-hop
    and connection-specific fields removed."""
    return [(name.lower(), value) for name, value in fields
            if not name.startswith(b":") and name.lower() not in _NOT_RELAYED]


class ChunkDecoder:
    """Incremental chunked-body decoder (RFC 9112 §7.1); ``feed`` returns the data bytes, ``done`` at the end."""

    MAX_LINE = 4096

    def __init__(self) -> None:
        self.done = False
        self._state = "size"  # size | data | data_crlf | trailer
        self._remaining = 0
        self._line = bytearray()

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        pos = 0
        while pos < len(data) and not self.done:
            if self._state == "data":
                take = min(self._remaining, len(data) - pos)
                out += data[pos:pos + take]
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._state = "data_crlf"
                continue
            nl = data.find(b"\n", pos)
            if nl < 0:
                self._line += data[pos:]
                if len(self._line) > self.MAX_LINE:
                    raise HttpError("chunk line too long")
                break
            self._line += data[pos:nl + 1]
            pos = nl + 1
            line = bytes(self._line).rstrip(b"\r\n")
            self._line.clear()
            self._line_done(line)
        return bytes(out)

    def _line_done(self, line: bytes) -> None:
        if self._state == "data_crlf":
            if line:
                raise HttpError("missing CRLF after chunk data (RFC 9112 §7.1)")
            self._state = "size"
        elif self._state == "size":
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpError("invalid chunk size line (RFC 9112 §7.1)") from None
            if size == 0:
                self._state = "trailer"
            else:
                self._remaining, self._state = size, "data"
        elif not line:  # the empty line after the trailer section
            self.done = True
