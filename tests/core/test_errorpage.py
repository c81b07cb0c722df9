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
