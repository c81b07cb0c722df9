"""Error pages come from the registry: code, TMG status, cause and fix, HTML-escaped."""

from __future__ import annotations

from bridgehead.core.errorpage import render
from bridgehead.wire.http1 import parse_response_head


def test_error_page_names_cause_and_fix() -> None:
    raw = render("client-cert-under-inspection", detail="<script>", host="adminwebservice.microsoftonline.com")
    head_end = raw.index(b"\r\n\r\n") + 4
    head = parse_response_head(raw[:head_end])
    assert head.status == 502
    assert head.headers.get(b"X-Bridgehead-TMG-Status") == b"12229"
    assert int(head.headers.get(b"Content-Length") or 0) == len(raw) - head_end
    body = raw[head_end:].decode()
    assert "CertificateRequest" in body and "&lt;script&gt;" in body and "<script>" not in body
    assert b"Proxy Error ( The web site requires a client certificate" in raw[:200]


def test_extra_headers_are_part_of_the_head_and_refuse_injection() -> None:
    # issue 16 item 15: the Basic challenge is a header of the page, not spliced in with bytes.replace
    import pytest

    from bridgehead.core.errorpage import basic_challenge

    raw = render("edge-basic-logon-failed", headers=[("WWW-Authenticate", basic_challenge('Corp "Mail"'))])
    end = raw.index(b"\r\n\r\n") + 4
    head = parse_response_head(raw[:end])
    assert head.status == 401 and int(head.headers.get(b"Content-Length") or 0) == len(raw) - end
    assert head.headers.get(b"WWW-Authenticate") == b'Basic realm="Corp \\"Mail\\"", charset="UTF-8"'
    with pytest.raises(ValueError):
        render("edge-basic-logon-failed", headers=[("WWW-Authenticate", "Basic\r\nSet-Cookie: x=1")])
    with pytest.raises(ValueError):
        render("edge-basic-logon-failed", headers=[("Bad Name", "x")])


def test_basic_challenge_quotes_the_realm() -> None:
    from bridgehead.core.errorpage import basic_challenge

    assert basic_challenge('Corp "Mail"\\x') == 'Basic realm="Corp \\"Mail\\"\\\\x", charset="UTF-8"'
