"""The h2 ↔ h2 header mapping of wire/h2map.py (an inspected h2 client relayed to an h2 origin).

Properties, for any request the client leg accepts (``request_head``): the origin's list starts
with the four pseudo-header fields, ``:authority`` is the proxy's Host (the tunnel's host), no
connection-specific or hop-by-hop field survives (RFC 9113 §8.2.2), ``te`` only as ``trailers``,
the proxy's own fields appear once and last, and every other field is passed in order. The
``h2`` library itself must accept the result as a client's HEADERS (its own §8 validation).
"""

from __future__ import annotations

import h2.config
import h2.connection
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridgehead.wire.h2map import (
    CONNECTION_SPECIFIC,
    H2MessageError,
    origin_request_fields,
    relay_response_fields,
    request_head,
    trailer_fields,
)
from bridgehead.wire.http1 import HOP_BY_HOP

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(rb"\A[a-z][a-z0-9\-]{0,14}\Z", fullmatch=True)
values = st.from_regex(rb"\A[\x21-\x7e][\x20-\x7e]{0,20}\Z", fullmatch=True).map(lambda v: v.rstrip())
hop = st.sampled_from([b"proxy-authorization", b"proxy-authenticate", b"trailer", b"x-bridgehead-user"])
regular = st.lists(st.tuples(st.one_of(names, hop), values), max_size=12)
OWN = [(b"Host", b"origin.example:8443"), (b"Via", b"1.1 bridgehead")]


def _h2_accepts(fields: list[tuple[bytes, bytes]], end_stream: bool) -> None:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    conn.send_headers(1, fields, end_stream=end_stream)  # raises on a field RFC 9113 §8.2 forbids


@FUZZ
@given(regular, st.booleans(), st.sampled_from([b"GET", b"POST", b"PUT"]), st.booleans())
def test_origin_fields_keep_every_end_to_end_field_and_drop_the_rest(
        fields: list[tuple[bytes, bytes]], ended: bool, method: bytes, trailers: bool) -> None:
    incoming = [(b":method", method), (b":scheme", b"https"), (b":authority", b"origin.example:8443"),
                (b":path", b"/a?b=1"), *fields]
    if trailers:
        incoming.append((b"te", b"trailers"))
    try:
        head = request_head(incoming, end_stream=ended)
    except H2MessageError:
        return  # refused on the client leg already (e.g. a connection-specific field)
    out = origin_request_fields(head, own=OWN)
    assert out[:4] == [(b":method", method), (b":scheme", b"https"), (b":authority", b"origin.example:8443"),
                       (b":path", b"/a?b=1")]
    rest = out[4:]
    assert not any(n.startswith(b":") for n, _ in rest)
    dropped = CONNECTION_SPECIFIC | set(HOP_BY_HOP) | {b"host"}
    assert not any(n in dropped and n != b"te" for n, _ in rest)
    assert [v for n, v in rest if n == b"te"] == ([b"trailers"] if trailers else [])
    assert rest[-1] == (b"via", b"1.1 bridgehead") and [n for n, _ in rest].count(b"via") == 1
    expected = [(n, v) for n, v in fields if n not in dropped and n != b"via" and not n.startswith(b"x-bridgehead-")
                and n != b"cookie"]
    assert [(n, v) for n, v in rest if n not in (b"te", b"via", b"cookie")] == expected
    cookies = [v for n, v in fields if n == b"cookie"]
    assert [v for n, v in rest if n == b"cookie"] == ([b"; ".join(cookies)] if cookies else [])
    _h2_accepts(out, ended)


def test_absolute_target_and_authority_from_the_proxy() -> None:
    head = request_head([(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a.example"),
                         (b":path", b"/x")], end_stream=True)
    out = origin_request_fields(head, target=b"/y", own=[(b"Host", b"a.example:443")])
    assert out == [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a.example:443"), (b":path", b"/y")]


def test_a_body_without_length_is_not_sent_chunked_to_an_h2_origin() -> None:
    head = request_head([(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"a.example"),
                         (b":path", b"/"), (b"content-type", b"text/plain")], end_stream=False)
    assert head.headers.get(b"transfer-encoding") == b"chunked"  # for the HTTP/1.1 hop
    out = origin_request_fields(head, own=[(b"Host", b"a.example")])
    assert (b"transfer-encoding", b"chunked") not in out and (b"content-type", b"text/plain") in out


@FUZZ
@given(regular, st.sampled_from([b"200", b"204", b"404", b"103"]))
def test_response_fields_status_first_and_no_hop_by_hop(fields: list[tuple[bytes, bytes]], status: bytes) -> None:
    out = relay_response_fields([(b":status", status), *fields, (b"connection", b"close"), (b"keep-alive", b"5")])
    assert out[0] == (b":status", status)
    dropped = CONNECTION_SPECIFIC | set(HOP_BY_HOP) | {b"host"}
    assert out[1:] == [(n, v) for n, v in fields if n not in dropped]
    assert trailer_fields([(b":status", b"200"), *fields]) == [(n, v) for n, v in fields if n not in dropped]


def test_response_without_status_or_with_a_request_pseudo_field_is_refused() -> None:
    with pytest.raises(H2MessageError):
        relay_response_fields([(b"content-type", b"text/plain")])
    with pytest.raises(H2MessageError):
        relay_response_fields([(b":status", b"200"), (b":path", b"/")])
