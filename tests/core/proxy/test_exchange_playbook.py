"""Playbook tests of the HTTP/1.1 exchange layer: events in, the exact commands out, no sockets.

Each test plays what a client and a server do (bytes, EOFs, deadlines passing on a fake clock)
and checks what the proxy decides: what goes where, in which order, when it waits and for how
long, and which registry code a failure gets.
"""

from __future__ import annotations

import pytest

from bridgehead.core.proxy.exchange import (
    CONTINUE,
    Broken,
    ClientData,
    Failed,
    Finished,
    Http1Exchange,
    ReadClient,
    ReadUpstream,
    ResponseStarted,
    SendClient,
    SendUpstream,
    Switch,
    UpstreamData,
)
from bridgehead.failures import get
from bridgehead.wire.http1 import parse_request_head


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def layer(raw: bytes, *, buffered: bytes = b"", clock: Clock | None = None, **kw: object) -> Http1Exchange:
    end = raw.index(b"\r\n\r\n") + 4
    head = parse_request_head(raw[:end])
    return Http1Exchange(head, buffered=raw[end:] + buffered, clock=clock or Clock(), **kw)  # type: ignore[arg-type]


GET = b"GET /x HTTP/1.1\r\nHost: app\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def sent(commands: list[object], kind: type) -> bytes:
    return b"".join(c.data for c in commands if isinstance(c, kind))  # type: ignore[attr-defined]


def test_keep_alive_get_one_send_each_way_and_reusable() -> None:
    ex = layer(GET)
    out = ex.start()
    assert out == [SendUpstream(GET), ReadUpstream(60.0, "head")]
    out = ex.handle(UpstreamData(OK))
    assert isinstance(out[0], ResponseStarted) and out[0].head.status == 200
    assert out[1] == SendClient(OK)  # head and body in one send
    done = out[2]
    assert isinstance(done, Finished) and done.exchange.keep_alive and done.exchange.upstream_reusable
    assert done.exchange.bytes_out == 5


def test_response_in_pieces_waits_for_the_rest() -> None:
    ex = layer(GET)
    ex.start()
    assert ex.handle(UpstreamData(b"HTTP/1.1 200 OK\r\nContent-")) == [ReadUpstream(60.0, "head")]
    out = ex.handle(UpstreamData(b"Length: 5\r\n\r\nhe"))
    assert out[1] == SendClient(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe") and out[2] == ReadUpstream(None,
                                                                                                             "body")
    out = ex.handle(UpstreamData(b"llo"))
    assert out[0] == SendClient(b"llo") and isinstance(out[1], Finished)


def test_pipelined_request_is_held_for_the_next_exchange() -> None:
    second = b"GET /y HTTP/1.1\r\nHost: app\r\n\r\n"
    ex = layer(GET, buffered=second)
    assert ex.start()[0] == SendUpstream(GET)  # the second request is not sent along
    done = ex.handle(UpstreamData(OK))[-1]
    assert isinstance(done, Finished) and done.client_leftover == second


def test_bytes_after_the_response_make_the_upstream_not_reusable() -> None:
    ex = layer(GET)
    ex.start()
    done = ex.handle(UpstreamData(OK + b"HTTP/1.1 200 OK\r\n"))[-1]
    assert isinstance(done, Finished) and not done.exchange.upstream_reusable
    assert done.upstream_leftover == b"HTTP/1.1 200 OK\r\n"


def test_server_close_keeps_the_client_connection_honest() -> None:
    ex = layer(GET)
    ex.start()
    out = ex.handle(UpstreamData(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
    assert b"Connection: close" in out[1].data  # type: ignore[union-attr]
    done = out[-1]
    assert isinstance(done, Finished) and not done.exchange.keep_alive and not done.exchange.upstream_reusable


def test_response_until_close_ends_at_eof_and_closes_the_client() -> None:
    ex = layer(GET)
    ex.start()
    out = ex.handle(UpstreamData(b"HTTP/1.1 200 OK\r\n\r\nabc"))
    assert b"Connection: close" in out[1].data and out[2] == ReadUpstream(None, "body")  # type: ignore[union-attr]
    done = ex.handle(Broken("upstream", "closed"))[0]
    assert isinstance(done, Finished) and not done.exchange.keep_alive and done.exchange.bytes_out == 3


def test_expect_100_continue_is_answered_by_the_proxy_before_the_body() -> None:
    ex = layer(b"POST /u HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    out = ex.start()
    assert out[0] == SendClient(CONTINUE)
    assert isinstance(out[1], SendUpstream) and b"Expect" not in out[1].data  # not passed on
    assert isinstance(out[2], ReadClient)
    out = ex.handle(ClientData(b"body"))
    assert out == [SendUpstream(b"body"), ReadUpstream(60.0, "head")]


def test_interim_responses_are_not_relayed() -> None:
    ex = layer(GET)
    ex.start()
    out = ex.handle(UpstreamData(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK))
    assert out[1] == SendClient(OK)


def test_chunked_request_body_followed_to_its_end_only() -> None:
    ex = layer(b"POST /u HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n")
    out = ex.start()
    assert isinstance(out[-1], ReadClient)
    out = ex.handle(ClientData(b"3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n"))
    assert out[0] == SendUpstream(b"3\r\nabc\r\n0\r\n\r\n") and isinstance(out[1], ReadUpstream)
    done = ex.handle(UpstreamData(OK))[-1]
    assert isinstance(done, Finished) and done.client_leftover == b"GET /next HTTP/1.1\r\n"


def test_malformed_chunk_from_the_client_is_refused_before_it_goes_on() -> None:
    ex = layer(b"POST /u HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n")
    ex.start()
    out = ex.handle(ClientData(b"3 ;x\r\nabc\r\n"))  # BWS before the extension
    assert out == [Failed("client-bad-request", "invalid chunk size line (RFC 9112 §7.1)")]


def test_upgrade_asked_and_granted_switches_to_a_splice() -> None:
    ex = layer(b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               b"Sec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n")
    up = ex.start()[0]
    assert isinstance(up, SendUpstream) and b"Upgrade: websocket" in up.data and b"Connection: Upgrade" in up.data
    out = ex.handle(UpstreamData(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 b"Sec-WebSocket-Accept: a\r\n\r\n\x81\x02hi"))
    assert isinstance(out[0], ResponseStarted) and out[0].head.status == 101
    assert isinstance(out[1], SendClient) and out[1].data.endswith(b"\r\n\r\n\x81\x02hi")  # early frame kept
    assert isinstance(out[2], Switch) and out[2].protocol == "websocket"
    assert out[2].client_leftover == b""


def test_bytes_the_client_sent_before_the_101_go_first_after_the_switch() -> None:
    head = (b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n")
    ex = layer(head, buffered=b"\x81\x82early")
    up = ex.start()
    assert isinstance(up[0], SendUpstream) and not up[0].data.endswith(b"early")  # not sent as a request body
    out = ex.handle(UpstreamData(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 b"Sec-WebSocket-Accept: a\r\n\r\n"))
    assert isinstance(out[2], Switch) and out[2].client_leftover == b"\x81\x82early"


def test_101_to_a_request_that_asked_for_none_is_refused() -> None:
    ex = layer(GET)
    ex.start()
    out = ex.handle(UpstreamData(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))
    assert len(out) == 1 and isinstance(out[0], Failed) and out[0].code == "upstream-bad-response"


def test_101_naming_a_protocol_not_offered_is_refused() -> None:
    ex = layer(b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
    ex.start()
    out = ex.handle(UpstreamData(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"))
    assert isinstance(out[0], Failed) and "RFC 9110 §15.2.2" in out[0].detail


def test_response_head_deadline_counts_from_the_request() -> None:
    clock = Clock()
    ex = layer(GET, clock=clock, upstream_timeout=10.0)
    assert ex.start()[-1] == ReadUpstream(10.0, "head")
    clock.now += 7
    assert ex.handle(UpstreamData(b"HTTP/1.1 200")) == [ReadUpstream(3.0, "head")]  # a dripping server gains nothing
    clock.now += 3
    out = ex.handle(UpstreamData(b" OK"))
    assert isinstance(out[0], Failed) and out[0].code == "upstream-timeout"


def test_slow_request_body_gets_less_time_as_it_falls_behind_the_minimum_rate() -> None:
    clock = Clock()
    ex = layer(b"POST /u HTTP/1.1\r\nHost: app\r\nContent-Length: 10000\r\n\r\n", clock=clock, body_rate=1000.0,
               body_grace=30.0)
    assert ex.start()[-1] == ReadClient(30.0, "body")
    clock.now += 29
    out = ex.handle(ClientData(b"x" * 2000))  # 2000 bytes buy 2 s beyond the grace period
    last = out[-1]
    assert isinstance(last, ReadClient) and last.timeout == pytest.approx(3.0) and last.phase == "body"


@pytest.mark.parametrize(("event", "state", "code", "started"), [
    (Broken("client", "timeout"), "body", "client-timeout", False),
    (Broken("upstream", "timeout"), "head", "upstream-timeout", False),
    (Broken("upstream", "timeout"), "response", "upstream-timeout", True),
    (Broken("client", "closed"), "body", "client-bad-request", False),
    (Broken("upstream", "closed"), "head", "upstream-bad-response", False),
    (Broken("upstream", "closed"), "response", "upstream-bad-response", True),
    (Broken("upstream", "tls", "DECRYPTION_FAILED"), "head", "upstream-bad-response", False),
    (Broken("upstream", "tls", "TLSV13_ALERT_CERTIFICATE_REQUIRED", "tls-alert-116"), "head", "tls-alert-116", False),
    (Broken("client", "closed"), "response", "upstream-bad-response", True),
])
def test_every_failure_gets_a_registry_code(event: Broken, state: str, code: str, started: bool) -> None:
    if state == "body":
        ex = layer(b"POST /u HTTP/1.1\r\nHost: app\r\nContent-Length: 4\r\n\r\n")
        ex.start()
    else:
        ex = layer(GET)
        ex.start()
        if state == "response":
            ex.handle(UpstreamData(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"))
    (failed,) = ex.handle(event)
    assert isinstance(failed, Failed) and failed.code == code and failed.response_started is started
    assert get(failed.code).code == code  # a code `explain` knows


def test_upstream_answer_with_two_lengths_is_refused_not_relayed() -> None:
    ex = layer(GET)
    ex.start()
    out = ex.handle(UpstreamData(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"))
    assert out == [Failed("upstream-bad-response", "conflicting Content-Length values (RFC 9112 §6.3)")]


def test_head_request_response_has_no_body_and_keeps_its_length() -> None:
    ex = layer(b"HEAD /x HTTP/1.1\r\nHost: app\r\n\r\n")
    ex.start()
    out = ex.handle(UpstreamData(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"))
    assert out[1] == SendClient(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
    assert isinstance(out[2], Finished) and out[2].exchange.upstream_reusable


def test_client_framing_and_identity_fields_never_reach_the_server_as_sent() -> None:
    ex = layer(b"POST /u HTTP/1.1\r\nHost: app\r\nConnection: Content-Length, X-Forwarded-For\r\n"
               b"X-Forwarded-For: 6.6.6.6\r\nX_Forwarded_For: 6.6.6.7\r\nContent-Length: 3\r\n\r\nabc",
               own=[(b"X-Forwarded-For", b"10.0.0.1")])
    out = ex.start()
    assert isinstance(out[0], SendUpstream)
    assert out[0].data == (b"POST /u HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"
                           b"abc")
