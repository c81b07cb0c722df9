"""HTTP/1.1 heads and framing: known-good bytes, the smuggling cases of RFC 9112 §6.3, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.wire.http1 import (
    CHUNKED,
    LENGTH,
    NO_BODY,
    UNTIL_CLOSE,
    ChunkedScanner,
    HeadTooLarge,
    HttpError,
    find_head_end,
    parse_request_head,
    parse_response_head,
    request_framing,
    response_framing,
    strip_hop_by_hop,
)


def test_request_head_keeps_case_and_order() -> None:
    head = parse_request_head(b"GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\nX-Mixed-Case: 1\r\n"
                              b"Connection: keep-alive, X-Drop\r\nX-Drop: 1\r\n\r\n")
    assert head.method == b"GET" and head.target == b"http://a.example/x?y"
    assert [k for k, _ in head.headers.items] == [b"Host", b"X-Mixed-Case", b"Connection", b"X-Drop"]
    strip_hop_by_hop(head.headers)
    assert head.serialize(b"/x?y") == b"GET /x?y HTTP/1.1\r\nHost: a.example\r\nX-Mixed-Case: 1\r\n\r\n"


@pytest.mark.parametrize("raw", [
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    b"GET  / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n",
    b"G@T / HTTP/1.1\r\n\r\n",
])
def test_ambiguous_or_malformed_requests_are_refused(raw: bytes) -> None:
    with pytest.raises(HttpError):
        parse_request_head(raw)


def test_identical_content_lengths_are_one() -> None:
    head = parse_request_head(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
    assert request_framing(head).length == 5


def test_response_framing_rules() -> None:
    ok = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
    assert response_framing(ok, b"GET").kind == LENGTH
    assert response_framing(ok, b"HEAD").kind == NO_BODY
    assert response_framing(parse_response_head(b"HTTP/1.1 304 Not Modified\r\n\r\n"), b"GET").kind == NO_BODY
    assert response_framing(parse_response_head(b"HTTP/1.1 200 OK\r\n\r\n"), b"GET").kind == UNTIL_CLOSE
    chunked = parse_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert response_framing(chunked, b"GET").kind == CHUNKED
    with pytest.raises(HttpError):
        response_framing(parse_response_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"), b"GET")


def test_head_limit() -> None:
    with pytest.raises(HeadTooLarge):
        find_head_end(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 20000, limit=1024)
    assert find_head_end(b"GET / HTTP/1.1\r\n\r\nrest") == 18


def test_chunked_scanner_stops_at_message_end_with_trailers() -> None:
    body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n"
    scanner = ChunkedScanner()
    used = 0
    for i in range(len(body + b"NEXT")):  # byte by byte: boundaries anywhere
        if scanner.done:
            break
        used += scanner.feed((body + b"NEXT")[i : i + 1])
    assert scanner.done and used == len(body)


@pytest.mark.parametrize("bad", [b"zz\r\n", b"4\r\nWikiXX\r\n", b"4\nWiki\r\n"])
def test_chunked_scanner_refuses_garbage(bad: bytes) -> None:
    with pytest.raises(HttpError):
        ChunkedScanner().feed(bad)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_request_parser_only_raises_http_error(data: bytes) -> None:
    try:
        parse_request_head(data)
    except HttpError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_response_parser_and_scanner(data: bytes) -> None:
    try:
        parse_response_head(data)
    except HttpError:
        pass
    try:
        ChunkedScanner().feed(data)
    except HttpError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8), st.integers(1, 64))
def test_chunked_roundtrip_any_split(chunks: list[bytes], step: int) -> None:
    body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"
    scanner = ChunkedScanner()
    used = 0
    for i in range(0, len(body), step):
        used += scanner.feed(body[i : i + step])
    assert scanner.done and used == len(body)
