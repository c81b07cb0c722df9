"""HTTP/1.1 message heads and body framing, strict, sans-IO (RFC 9112).

The proxy relays bodies byte for byte; it must not re-serialise them, reorder headers or
change their case. So this module parses a head into a :class:`RequestHead` /
:class:`ResponseHead` that keeps the raw header list, decides the body framing once
(RFC 9112 §6.3), and then :func:`prepare_request` / :func:`prepare_response` turn the head
into the one that goes out, in a fixed order that no client header can change:

1. framing is decided from the parsed head (and validated);
2. hop-by-hop fields are removed, including those a ``Connection`` token names — except the
   framing fields and Host, which a token can never remove (RFC 9110 §7.6.1; the
   ``Connection: Content-Length`` smuggle);
3. client fields whose name normalises (case, ``_``→``-``) to a field the proxy owns are removed;
4. the framing header is written by the proxy from its own decision (one canonical
   ``Content-Length`` or ``Transfer-Encoding``);
5. the caller's own fields are set last.

Bodies are then relayed by :class:`ChunkedScanner` (which tracks chunk boundaries without
decoding) or by a byte count.

Written by hand rather than with h11: h11 re-frames bodies and owns the connection state,
while a transparent proxy needs byte-exact pass-through of heads it may rewrite and bodies
it must not touch. httptools (llhttp) cannot be told that a response answers a HEAD.

Strictness (request smuggling defences, RFC 9112 §2.2, §3, §5, §6.3, §7.1, §11.2):
* lines end in CRLF; a bare LF or bare CR anywhere in a head or chunk line → error at once;
* Content-Length and Transfer-Encoding together, differing or non-numeric lengths → error;
  identical repeated lengths are one (and go out as one);
* Transfer-Encoding whose final coding is not ``chunked`` on a request, or an unknown coding → error;
* obsolete line folding, whitespace before the colon, control characters → error;
* a missing (HTTP/1.1), repeated or malformed Host → error; targets are visible ASCII;
* chunk lines: hex size, then only well-formed extensions (no leading/trailing junk);
* heads larger than the configured limit → :class:`HeadTooLarge`.
Error messages describe the fault; they never quote request bytes (they reach logs and pages).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024
MAX_HEADERS = 200

_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(rb"[" + _TCHAR + rb"]+")
_FIELD_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_VERSION = re.compile(rb"HTTP/1\.[01]")
_TARGET = re.compile(rb"[\x21-\x22\x24-\x7e]+")  # RFC 9112 §3.2: no SP, HTAB, CTL, 8-bit or "#" (fragment)
# RFC 3986 host [":" port]: reg-name / IPv4 / IP-literal
_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::[0-9]{1,5})?")
_QUOTED = rb'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"'
# RFC 9112 §7.1 / §7.1.1: chunk-size *( BWS ";" BWS name [ BWS "=" BWS value ] ) — without the BWS, which
# many servers (h11, llhttp in strict mode) refuse: relaying it would hand them a body they frame otherwise.
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})(?:;[" + _TCHAR + rb"]+(?:=(?:[" + _TCHAR + rb"]+|" + _QUOTED + rb"))?)*")
# A request's only transfer coding is chunked (as nginx and h11): "gzip, chunked" would be framed one way
# here and refused or decoded another way behind.
_CODINGS = frozenset({b"chunked"})


class HttpError(Exception):
    """A framing or syntax error; ``status`` is the answer a server gives (400 by default)."""

    status = 400
    code = "client-bad-request"


class HeadTooLarge(HttpError):
    status = 431
    code = "client-head-too-large"


def normalise_name(name: bytes) -> bytes:
    """The field name as a CGI/WSGI backend sees it: case-folded, ``_`` read as ``-``."""
    return name.lower().replace(b"_", b"-")


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

    def remove_normalised(self, names: Iterable[bytes], prefixes: tuple[bytes, ...] = ()) -> None:
        """Remove fields whose normalised name is one of ``names`` or starts with a prefix."""
        drop = {normalise_name(n) for n in names}
        self.items = [(k, v) for k, v in self.items
                      if (n := normalise_name(k)) not in drop and not n.startswith(prefixes)]

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


# The framings without a length, made once (a frozen dataclass costs ~1 µs to build).
_NONE = Framing(NO_BODY)
_CHUNKED = Framing(CHUNKED)
_UNTIL_CLOSE = Framing(UNTIL_CLOSE)


def _check_line_endings(region: bytes | bytearray) -> None:
    """RFC 9112 §2.2: a bare CR or LF in a head is refused at once, not waited on."""
    crlf = region.count(b"\r\n")
    if region.count(b"\n") != crlf:
        raise HttpError("bare LF in the message head: lines must end in CRLF (RFC 9112 §2.2)")
    if region.count(b"\r") != crlf:
        raise HttpError("bare CR in the message head (RFC 9112 §2.2)")


def find_head_end(buf: bytes | bytearray, limit: int = MAX_HEAD) -> int:
    """Index just past the blank line ending a head, -1 if incomplete; raises if too large or malformed."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > limit:
            raise HeadTooLarge(f"message head larger than {limit} bytes")
        _check_line_endings(buf[:-1] if buf.endswith(b"\r") else buf)
        return -1
    if end + 4 > limit:
        raise HeadTooLarge(f"message head larger than {limit} bytes")
    _check_line_endings(buf[: end + 4])
    return end + 4


def _field_line(line: bytes, number: int) -> tuple[bytes, bytes]:
    if line[:1] in (b" ", b"\t"):
        raise HttpError(f"obsolete line folding in header line {number} (RFC 9112 §5.2)")
    name, sep, value = line.partition(b":")
    if not sep:
        raise HttpError(f"header line {number} has no colon (RFC 9112 §5)")
    if not _TOKEN.fullmatch(name):
        what = "whitespace before the colon" if name[-1:] in (b" ", b"\t") else "invalid characters in the name"
        raise HttpError(f"malformed header line {number}: {what} (RFC 9112 §5.1)")
    value = value.strip(b" \t")
    if _FIELD_VALUE_BAD.search(value):
        raise HttpError(f"control character in the value of header line {number} (RFC 9110 §5.5)")
    return name, value


def _parse_fields(lines: list[bytes]) -> Headers:
    """The reference parser, line by line: it names the faulty line (the fast path falls back to it)."""
    if len(lines) > MAX_HEADERS:
        raise HeadTooLarge(f"more than {MAX_HEADERS} header fields")
    headers = Headers()
    for number, line in enumerate(lines, 1):
        if line:
            headers.items.append(_field_line(line, number))
    return headers


# The same grammar as _field_line for a whole block of field lines, run by the regex engine in C (the
# per-line Python path cost ~1 µs a field). Values are matched greedily and their trailing SP/HTAB
# stripped afterwards: a lazy value with a trailing [ \t]* would backtrack quadratically on long runs of
# spaces. A block that does not match is parsed by _parse_fields, which raises the precise error.
_FIELD_LINE = rb"[" + _TCHAR + rb"]+:[ \t]*[^\x00-\x08\x0a-\x1f\x7f]*\r\n"
_FIELD_BLOCK = re.compile(rb"(?:" + _FIELD_LINE + rb")*")
_FIELD_SPLIT = re.compile(rb"([" + _TCHAR + rb"]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)\r\n")


def _parse_block(data: bytes, start: int) -> Headers:
    """Fields from ``start`` (just past the start line) to the blank line that ends ``data``."""
    end = len(data) - 2
    if data.endswith(b"\r\n\r\n") or (end == start and data.endswith(b"\r\n")):
        if _FIELD_BLOCK.fullmatch(data, start, end) is not None:
            items = [(k, v.rstrip(b" \t")) for k, v in _FIELD_SPLIT.findall(data, start, end)]
            if len(items) > MAX_HEADERS:
                raise HeadTooLarge(f"more than {MAX_HEADERS} header fields")
            return Headers(items)
    return _parse_fields(data[start:].split(b"\r\n"))


def _index(headers: Headers) -> dict[bytes, list[bytes]]:
    """Field values by lower-cased name, in order (one pass; every framing decision reads it)."""
    index: dict[bytes, list[bytes]] = {}
    for key, value in headers.items:
        lkey = key.lower()
        found = index.get(lkey)
        if found is None:
            index[lkey] = [value]
        else:
            found.append(value)
    return index


def _tokens(index: dict[bytes, list[bytes]]) -> frozenset[bytes]:
    values = index.get(b"connection")
    if not values:
        return frozenset()
    return frozenset(t for value in values for t in (p.strip().lower() for p in value.split(b",")) if t)


def is_absolute_form(target: bytes) -> bool:
    return target[:7].lower() == b"http://" or target[:8].lower() == b"https://"


def split_absolute(target: bytes) -> tuple[bytes, bytes, bytes]:
    """``(scheme, authority, origin-form)`` of an absolute-form target (RFC 9112 §3.2.2)."""
    scheme, _, rest = target.partition(b"://")
    cut = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    if not path.startswith(b"/"):
        path = b"/" + path
    return scheme.lower(), authority, path


def valid_host(value: bytes) -> bool:
    return bool(_HOST.fullmatch(value))


def _check_target(method: bytes, target: bytes) -> None:
    if not _TARGET.fullmatch(target):
        raise HttpError("malformed request target: only visible ASCII and no fragment (RFC 9112 §3.2)")
    if method == b"CONNECT":
        if target.startswith(b"/") or is_absolute_form(target):
            raise HttpError("CONNECT needs an authority-form target host:port (RFC 9112 §3.2.3)")
        return
    if target == b"*":
        if method != b"OPTIONS":
            raise HttpError("asterisk-form target is only for OPTIONS (RFC 9112 §3.2.4)")
        return
    if target.startswith(b"/"):
        return
    if is_absolute_form(target):
        _, authority, _ = split_absolute(target)
        if b"@" in authority or not valid_host(authority):
            raise HttpError("malformed authority in the absolute-form target (RFC 9112 §3.2.2)")
        return
    raise HttpError("request target is neither origin-form nor absolute-form (RFC 9112 §3.2)")


def _check_host(head: RequestHead, index: dict[bytes, list[bytes]]) -> None:
    hosts = index.get(b"host", ())
    if len(hosts) > 1:
        raise HttpError("more than one Host header (RFC 9112 §3.2)")
    if hosts and not valid_host(hosts[0]):
        raise HttpError("malformed Host header (RFC 9112 §3.2)")
    if not hosts and head.version == b"HTTP/1.1" and head.method != b"CONNECT" \
            and not is_absolute_form(head.target):
        raise HttpError("HTTP/1.1 request without Host (RFC 9112 §3.2)")


def parse_request_head(data: bytes) -> RequestHead:
    """Parse a request head (bytes up to and including the blank line)."""
    _check_line_endings(data)
    first = data.find(b"\r\n")
    parts = (data if first < 0 else data[:first]).split(b" ")
    if len(parts) != 3:
        raise HttpError("malformed request line: it must be METHOD SP TARGET SP VERSION (RFC 9112 §3)")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise HttpError("malformed method (RFC 9112 §3.1)")
    if not _VERSION.fullmatch(version):
        raise HttpError("unsupported HTTP version: HTTP/1.0 and HTTP/1.1 only (RFC 9112 §2.3)")
    _check_target(method, target)
    head = RequestHead(method, target, version, _parse_block(data, first + 2) if first >= 0 else Headers())
    index = _index(head.headers)
    _check_host(head, index)
    _request_framing(version, index)  # validates Content-Length / Transfer-Encoding
    return head


def parse_response_head(data: bytes) -> ResponseHead:
    """Parse a response head (bytes up to and including the blank line)."""
    _check_line_endings(data)
    first = data.find(b"\r\n")
    version, _, rest = (data if first < 0 else data[:first]).partition(b" ")
    status_text, _, reason = rest.partition(b" ")
    if not _VERSION.fullmatch(version) or len(status_text) != 3 or not status_text.isdigit() \
            or _FIELD_VALUE_BAD.search(reason.replace(b"\t", b" ")):
        raise HttpError("malformed status line (RFC 9112 §4)")
    return ResponseHead(version, int(status_text), reason,
                        _parse_block(data, first + 2) if first >= 0 else Headers())


def _content_length(index: dict[bytes, list[bytes]]) -> int | None:
    values = index.get(b"content-length")
    if not values:
        return None
    seen = set()
    for value in values:
        for part in value.split(b","):
            seen.add(part.strip(b" \t"))
    if len(seen) != 1:
        raise HttpError("conflicting Content-Length values (RFC 9112 §6.3)")
    (only,) = seen
    if not only.isdigit() or not only.isascii() or len(only) > 18:
        raise HttpError("invalid Content-Length (RFC 9110 §8.6)")
    return int(only)


def _codings(index: dict[bytes, list[bytes]]) -> list[bytes] | None:
    values = index.get(b"transfer-encoding")
    if not values:
        return None
    codings = [c.strip(b" \t").lower() for v in values for c in v.split(b",")]
    if not codings or any(not c for c in codings):
        raise HttpError("empty transfer coding in Transfer-Encoding (RFC 9112 §6.1)")
    return codings


def _chunked_last(index: dict[bytes, list[bytes]], *, request: bool) -> bool | None:
    codings = _codings(index)
    if codings is None:
        return None
    if codings.count(b"chunked") > 1 or (b"chunked" in codings and codings[-1] != b"chunked"):
        raise HttpError("chunked must be the final transfer coding, once (RFC 9112 §6.1)")
    if request and any(c not in _CODINGS for c in codings):
        raise HttpError("transfer coding other than chunked in a request (RFC 9112 §6.1; answered as nginx does)")
    return codings[-1] == b"chunked"


def request_framing(head: RequestHead) -> Framing:
    """How the request body is framed (RFC 9112 §6.3 rules 3-6)."""
    return _request_framing(head.version, _index(head.headers))


def _request_framing(version: bytes, index: dict[bytes, list[bytes]]) -> Framing:
    chunked = _chunked_last(index, request=True)
    length = _content_length(index)
    if chunked is not None and length is not None:
        raise HttpError("both Content-Length and Transfer-Encoding (RFC 9112 §6.3, request smuggling)")
    if chunked is not None:
        if not chunked:
            raise HttpError("request Transfer-Encoding without final chunked (RFC 9112 §6.3)")
        if version == b"HTTP/1.0":
            raise HttpError("Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)")
        return _CHUNKED
    if length:
        return Framing(LENGTH, length)
    return _NONE


def response_framing(head: ResponseHead, request_method: bytes) -> Framing:
    """How the response body is framed (RFC 9112 §6.3 rules 1-7)."""
    return _response_framing(head.status, request_method, _index(head.headers))


def _response_framing(status: int, request_method: bytes, index: dict[bytes, list[bytes]]) -> Framing:
    if request_method == b"HEAD" or status < 200 or status in (204, 304):
        return _NONE
    if request_method == b"CONNECT" and 200 <= status < 300:
        return _NONE
    chunked = _chunked_last(index, request=False)
    length = _content_length(index)
    if chunked is not None and length is not None:
        raise HttpError("both Content-Length and Transfer-Encoding in a response (RFC 9112 §6.3)")
    if chunked:
        return _CHUNKED
    if chunked is False:
        return _UNTIL_CLOSE
    if length is not None:
        return Framing(LENGTH, length) if length else _NONE
    return _UNTIL_CLOSE


def keep_alive(version: bytes, headers: Headers) -> bool:
    return _keep_alive(version, _tokens(_index(headers)))


def _keep_alive(version: bytes, tokens: frozenset[bytes]) -> bool:
    if b"close" in tokens:
        return False
    if version == b"HTTP/1.0":
        return b"keep-alive" in tokens
    return True


HOP_BY_HOP = (
    b"connection", b"keep-alive", b"proxy-connection", b"proxy-authenticate",
    b"proxy-authorization", b"te", b"trailer", b"upgrade",
)
# A Connection token can never remove these (RFC 9110 §7.6.1 lets a proxy keep fields it needs;
# removing a framing field after framing was decided desynchronises the next hop).
NEVER_HOP_BY_HOP = frozenset({b"content-length", b"transfer-encoding", b"host"})


def strip_hop_by_hop(headers: Headers, *, keep: Iterable[bytes] = ()) -> None:
    """Remove hop-by-hop fields (RFC 9110 §7.6.1), including those named in Connection.

    Framing fields, Host and ``keep`` (the proxy's own fields) are never removed by a token.
    """
    protected = NEVER_HOP_BY_HOP | {normalise_name(k) for k in keep}
    named = {t for t in headers.connection_tokens() if normalise_name(t) not in protected}
    headers.remove(*HOP_BY_HOP, *named)


@dataclass(frozen=True)
class Outgoing:
    """What the proxy decided about a request before it goes on."""

    framing: Framing
    keep_alive: bool
    expect_continue: bool
    upgrade: bytes | None = None  # the protocol asked for (RFC 9110 §7.8), e.g. b"websocket"


# Fields that name a user or the original client: a client can never send them to a backend.
IDENTITY_FIELDS = (
    b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port",
    b"x-real-ip", b"x-client-ip", b"remote-user", b"x-remote-user", b"x-forwarded-user",
    b"x-authenticated-user", b"x-ms-client-principal-name", b"x-ms-client-principal-id",
    b"x-ssl-client-cert", b"x-client-cert", b"x-arr-clientcert",
)
OWNED_PREFIXES = (b"x-bridgehead-",)


def prepare_request(head: RequestHead, *, owned: Iterable[bytes] = (), own: Iterable[tuple[bytes, bytes]] = (),
                    owned_prefixes: tuple[bytes, ...] = OWNED_PREFIXES) -> Outgoing:
    """Decide framing, then the outgoing fields, in the order of the module docstring.

    ``owned``: normalised names the client may not send (the proxy's and identity fields);
    ``own``: the proxy's fields, set last (they replace a client field of the same name).
    """
    index = _index(head.headers)
    framing = _request_framing(head.version, index)
    tokens = _tokens(index)
    expect = index.get(b"expect")
    upgrades = index.get(b"upgrade")
    upgrade = upgrades[0] if upgrades and len(upgrades) == 1 else None
    if b"upgrade" not in tokens or head.version != b"HTTP/1.1" or framing.kind != NO_BODY:
        upgrade = None  # RFC 9110 §7.8: only with "Connection: upgrade", not on HTTP/1.0; no body first
    decision = Outgoing(framing, _keep_alive(head.version, tokens),
                        expect is not None and expect[0].lower() == b"100-continue", upgrade)
    own = list(own)
    drop = _hop_by_hop(tokens)
    if decision.expect_continue:
        drop.add(b"expect")  # answered by the proxy itself (RFC 9110 §10.1.1)
    owned_names = _normalised((*owned, *(k for k, _ in own)))
    _rebuild(head.headers, drop, owned_names, owned_prefixes, framing, b"content-length" in index)
    if own:
        _set_all(head.headers, own)
    if upgrade is not None:  # hop-by-hop, so set again by the proxy for the next hop
        _set_all(head.headers, [(b"Connection", b"Upgrade"), (b"Upgrade", upgrade)])
    return decision


@functools.lru_cache(maxsize=256)
def _normalised(names: tuple[bytes, ...]) -> frozenset[bytes]:
    """The normalised names of a proxy's owned fields (the same few tuples on every request: cached)."""
    return frozenset(normalise_name(n) for n in names)


def _hop_by_hop(tokens: frozenset[bytes]) -> set[bytes]:
    """Lower-cased names to remove: the hop-by-hop fields and those a Connection token names,
    never the framing fields or Host (RFC 9110 §7.6.1; see :func:`strip_hop_by_hop`)."""
    return {*HOP_BY_HOP, *(t for t in tokens if normalise_name(t) not in NEVER_HOP_BY_HOP)}


def _rebuild(headers: Headers, drop: set[bytes], owned: frozenset[bytes], prefixes: tuple[bytes, ...],
             framing: Framing | None, had_length: bool) -> None:
    """In one pass: remove ``drop`` (exact, lower-cased) and ``owned``/``prefixes`` (normalised) names,
    then — unless ``framing`` is None — replace the framing fields by one canonical field at the place
    of the first (what strip_hop_by_hop, remove_normalised and _write_framing do one after another)."""
    out: list[tuple[bytes, bytes]] = []
    position = -1
    te: list[bytes] = []
    for key, value in headers.items:
        lkey = key.lower()
        if lkey in drop:
            continue
        nkey = lkey.replace(b"_", b"-") if b"_" in lkey else lkey
        if nkey in owned or (prefixes and nkey.startswith(prefixes)):
            continue
        if framing is not None and (lkey == b"content-length" or lkey == b"transfer-encoding"):
            if position < 0:
                position = len(out)
            if lkey == b"transfer-encoding":
                te.append(value)
            continue
        out.append((key, value))
    if framing is not None:
        codings = [c.strip(b" \t").lower() for v in te for c in v.split(b",")]
        if framing.kind == CHUNKED:
            field_: tuple[bytes, bytes] | None = (b"Transfer-Encoding", b", ".join(codings or [b"chunked"]))
        elif framing.kind == LENGTH:
            field_ = (b"Content-Length", str(framing.length).encode())
        elif framing.kind == UNTIL_CLOSE and codings:
            field_ = (b"Transfer-Encoding", b", ".join(codings))
        elif had_length:
            field_ = (b"Content-Length", b"0")
        else:
            field_ = None
        if field_ is not None:
            out.insert(position if position >= 0 else len(out), field_)
    headers.items = out


def _set_all(headers: Headers, fields: Iterable[tuple[bytes, bytes]]) -> None:
    """``Headers.set`` for each field in turn (a later field replaces any of the same name)."""
    present = {k.lower() for k, _ in headers.items}
    for name, value in fields:
        lname = name.lower()
        if lname in present:
            headers.items = [(k, v) for k, v in headers.items if k.lower() != lname]
        headers.items.append((name, value))
        present.add(lname)


def prepare_switch(head: ResponseHead, asked: bytes) -> bytes:
    """The protocol a ``101 Switching Protocols`` switches to, its fields made for the client.

    RFC 9110 §15.2.2: the server names the protocol in Upgrade; it must be one the client asked for.
    """
    chosen = head.headers.get(b"upgrade")
    offered = {t.strip().lower() for t in asked.split(b",")}
    if chosen is None or chosen.strip().lower() not in offered:
        raise HttpError("101 without an Upgrade the client asked for (RFC 9110 §15.2.2)")
    strip_hop_by_hop(head.headers)
    head.headers.remove(b"content-length", b"transfer-encoding")
    head.headers.set(b"Connection", b"Upgrade")
    head.headers.set(b"Upgrade", chosen)
    return chosen


def prepare_response(head: ResponseHead, request_method: bytes) -> tuple[Framing, bool]:
    """The response's framing and whether the server keeps the connection; fields made canonical."""
    index = _index(head.headers)
    framing = _response_framing(head.status, request_method, index)
    tokens = _tokens(index)
    describes_other = request_method == b"HEAD" or head.status in (204, 304) or head.status < 200
    # on HEAD/204/304 the length describes another message: left as sent
    _rebuild(head.headers, _hop_by_hop(tokens), frozenset(), (), None if describes_other else framing,
             b"content-length" in index)
    return framing, _keep_alive(head.version, tokens)


class ChunkedScanner:
    """Follows a chunked body as it passes through (RFC 9112 §7.1) without decoding it.

    ``feed(data)`` returns how many bytes of ``data`` belong to the body; once
    ``done`` is true the rest belongs to the next message. Trailer fields are checked as
    header lines and passed through; framing fields and Host are refused there.
    """

    MAX_LINE = 4096
    MAX_TRAILERS = 64

    def __init__(self) -> None:
        self.done = False
        self._state = "size"  # size | data | data_crlf | trailer
        self._remaining = 0
        self._trailers = 0
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
                if b"\r" in self._line[:-1]:
                    raise HttpError("bare CR in a chunk line (RFC 9112 §7.1)")
                break
            self._line += buf[pos : nl + 1]
            pos = nl + 1
            line = bytes(self._line)
            self._line.clear()
            self._line_done(line)
        return pos

    def _line_done(self, line: bytes) -> None:
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            raise HttpError("chunk line not terminated by CRLF, or a bare CR in it (RFC 9112 §7.1)")
        body = line[:-2]
        if self._state == "data_crlf":
            if body:
                raise HttpError("missing CRLF after chunk data (RFC 9112 §7.1)")
            self._state = "size"
        elif self._state == "size":
            match = _CHUNK_LINE.fullmatch(body)
            if match is None:
                raise HttpError("invalid chunk size line (RFC 9112 §7.1)")
            size = int(match.group(1), 16)
            if size == 0:
                self._state = "trailer"
            else:
                self._remaining = size
                self._state = "data"
        elif self._state == "trailer":
            if not body:
                self.done = True
                return
            self._trailers += 1
            if len(body) > self.MAX_LINE or self._trailers > self.MAX_TRAILERS:
                raise HttpError("trailer section too large")
            name, _ = _field_line(body, self._trailers)
            if name.lower() in NEVER_HOP_BY_HOP:
                raise HttpError("framing field or Host in a trailer (RFC 9110 §6.5.1)")
