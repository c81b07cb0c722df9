"""The fast paths of wire/http1.py against the reference algorithm, on generated hostile heads.

``_parse_block`` (one regex over the field block) must give exactly what the line-by-line
``_parse_fields`` gives, or fail where it fails; ``prepare_request`` / ``prepare_response`` (one
pass over the fields) must produce exactly the head the original step-by-step algorithm produced —
kept here verbatim as the reference: strip hop-by-hop, drop Expect, drop owned names, rewrite the
framing field at the place of the first, set the proxy's fields. Any difference is a desync.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.wire import http1
from bridgehead.wire.http1 import (
    CHUNKED,
    IDENTITY_FIELDS,
    LENGTH,
    NO_BODY,
    UNTIL_CLOSE,
    Framing,
    Headers,
    HttpError,
    normalise_name,
    parse_request_head,
    parse_response_head,
    prepare_request,
    prepare_response,
    request_framing,
    response_framing,
    strip_hop_by_hop,
)

NAMES = [b"Host", b"host", b"Content-Length", b"content-length", b"Transfer-Encoding", b"TE", b"Connection",
         b"connection", b"Upgrade", b"Expect", b"X-Forwarded-For", b"X_Forwarded_For", b"X-Bridgehead-User",
         b"Keep-Alive", b"Proxy-Authorization", b"X-Custom", b"x_custom", b"Trailer", b"Accept"]
VALUES = [b"a.example", b"5", b"05", b"5, 5", b"chunked", b"gzip, chunked", b"gzip", b"close", b"keep-alive",
          b"X-Custom, upgrade", b"Content-Length", b"websocket", b"100-continue", b"1.2.3.4", b"", b"  x  ",
          b"\tv\t", b"caf\xc3\xa9"]
JUNK = [b" lead", b"bad name: v", b"nocolon", b"x:\x01", b"x: a\rb", b"x\t: v", b"x: \x7f"]

field = st.one_of(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)).map(lambda t: t[0] + b": " + t[1]),
                  st.sampled_from(JUNK),
                  st.binary(max_size=12))


def _reference_write_framing(headers: Headers, framing: Framing, had_length: bool) -> None:
    """The framing rewrite as it was written before the one-pass version (the reference)."""
    values = headers.get_all(b"transfer-encoding")
    codings = [c.strip(b" \t").lower() for v in values for c in v.split(b",")] if values else None
    position = next((i for i, (k, _) in enumerate(headers.items)
                     if k.lower() in (b"content-length", b"transfer-encoding")), len(headers.items))
    headers.remove(b"content-length", b"transfer-encoding")
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
        headers.items.insert(min(position, len(headers.items)), field_)


def _reference_prepare_request(head: http1.RequestHead, owned: tuple[bytes, ...],
                               own: list[tuple[bytes, bytes]]) -> tuple[object, ...]:
    framing = request_framing(head)
    had_length = head.headers.get(b"content-length") is not None
    expect = head.headers.get(b"expect")
    upgrade = head.headers.get(b"upgrade")
    if b"upgrade" not in head.headers.connection_tokens() or head.version != b"HTTP/1.1" \
            or framing.kind != NO_BODY or len(head.headers.get_all(b"upgrade")) != 1:
        upgrade = None
    keep = http1.keep_alive(head.version, head.headers)
    expect_continue = expect is not None and expect.lower() == b"100-continue"
    strip_hop_by_hop(head.headers)
    if expect_continue:
        head.headers.remove(b"expect")
    head.headers.remove_normalised([*owned, *(k for k, _ in own)], http1.OWNED_PREFIXES)
    _reference_write_framing(head.headers, framing, had_length)
    for name, value in own:
        head.headers.set(name, value)
    if upgrade is not None:
        head.headers.set(b"Connection", b"Upgrade")
        head.headers.set(b"Upgrade", upgrade)
    return framing, keep, expect_continue, upgrade


def _outcome(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except HttpError as exc:
        return type(exc)


@settings(max_examples=600, deadline=None)
@given(st.lists(field, max_size=8))
def test_block_parser_equals_line_parser(lines: list[bytes]) -> None:
    data = b"GET / HTTP/1.1\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"
    start = data.find(b"\r\n") + 2
    fast = _outcome(lambda: http1._parse_block(data, start).items)
    slow = _outcome(lambda: http1._parse_fields(data[start:].split(b"\r\n")).items)
    if isinstance(slow, list):
        assert fast == slow
    else:
        assert fast is slow or not isinstance(fast, list), (fast, slow)
        assert not isinstance(fast, list)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)), max_size=9),
       st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]),
       st.lists(st.sampled_from([(b"X-Forwarded-For", b"9.9.9.9"), (b"X-Bridgehead-User", b"u"),
                                 (b"x-forwarded-for", b"8.8.8.8"), (b"Host", b"backend")]), max_size=3))
def test_prepare_request_equals_reference(fields: list[tuple[bytes, bytes]], version: bytes,
                                          own: list[tuple[bytes, bytes]]) -> None:
    raw = b"POST /x HTTP/1.1\r\n".replace(b"HTTP/1.1", version) + \
        b"".join(k + b": " + v + b"\r\n" for k, v in fields) + b"\r\n"
    try:
        a = parse_request_head(raw)
    except HttpError:
        return
    b = parse_request_head(raw)
    expected = _reference_prepare_request(a, IDENTITY_FIELDS, own)
    got = prepare_request(b, owned=IDENTITY_FIELDS, own=own)
    assert (got.framing, got.keep_alive, got.expect_continue, got.upgrade) == expected
    assert b.headers.items == a.headers.items
    assert {normalise_name(k) for k, _ in b.headers.items} & set(IDENTITY_FIELDS) <= \
        {normalise_name(k) for k, _ in own}


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)), max_size=9),
       st.sampled_from([200, 204, 304, 101, 404]), st.sampled_from([b"GET", b"HEAD", b"CONNECT"]),
       st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]))
def test_prepare_response_equals_reference(fields: list[tuple[bytes, bytes]], status: int, method: bytes,
                                           version: bytes) -> None:
    raw = version + b" " + str(status).encode() + b" X\r\n" + \
        b"".join(k + b": " + v + b"\r\n" for k, v in fields) + b"\r\n"
    a = parse_response_head(raw)
    b = parse_response_head(raw)
    try:
        framing = response_framing(a, method)
    except HttpError:
        assert _outcome(prepare_response, b, method) is HttpError
        return
    had_length = a.headers.get(b"content-length") is not None
    keep = http1.keep_alive(a.version, a.headers)
    strip_hop_by_hop(a.headers)
    if not (method == b"HEAD" or status in (204, 304) or status < 200):
        _reference_write_framing(a.headers, framing, had_length)
    assert prepare_response(b, method) == (framing, keep)
    assert b.headers.items == a.headers.items
