"""The access log's ``protocol`` field (issue 13 item 3): every forward record says the client's
protocol — ``HTTP/1.0``/``HTTP/1.1`` for plain requests, ``tunnel`` for a spliced CONNECT, the
inner protocol (``HTTP/1.1`` or ``h2``) for an inspected one. curl is the client, over real sockets."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, ROOT, Pki, curl, status_of
from tests.runtime.forward.test_exceptions_and_http import http_origin
from tests.support.procs import free_port, running

ORIGIN = str(ROOT / "tests" / "support" / "h1_origin.py")


@pytest.fixture
def tls_origin(tmp_path: Path, pki: Pki) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, ORIGIN, "--port", str(port), "--cert", str(pki.server.chain), "--key", str(pki.server.key)]
    with running(argv, port=port, log=tmp_path / "origin.log"):
        yield port


def test_plain_http_records_the_request_version(pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    with http_origin() as port:
        for flag in ("--http1.0", "--http1.1"):
            assert status_of(curl(pki, proxy, f"http://127.0.0.1:{port}/", flag)) == 200
    records = proxy.records(expect=2)
    assert [r["protocol"] for r in records] == ["HTTP/1.0", "HTTP/1.1"]


def test_inspected_connect_records_the_inner_protocol_and_a_tunnel_says_tunnel(
        pki: Pki, start_proxy: Any, tls_origin: int) -> None:
    url = f"https://{ORIGIN_HOST}:{tls_origin}/echo"
    inspecting = start_proxy()
    for flag in ("--http1.1", "--http2"):
        r = curl(pki, inspecting, url, flag, cacert=inspecting.ca)
        assert status_of(r) == 200, r.stderr
    records = inspecting.records(expect=2)
    assert [(r["action"], r["protocol"]) for r in records] == [("inspect", "HTTP/1.1"), ("inspect", "h2")]

    tunnelling = start_proxy("--exception-destination", ORIGIN_HOST)
    r = curl(pki, tunnelling, url, cacert=pki.ca.cert)
    assert status_of(r) == 200, r.stderr
    (record,) = tunnelling.records()
    assert (record["action"], record["protocol"]) == ("tunnel", "tunnel")
    # logs scan reads records with the new field as before: three records, no finding
    out = subprocess.run([BRIDGEHEAD, "logs", "scan", "--json", str(inspecting.log), str(tunnelling.log)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert not report["findings"], report


def test_a_refused_request_says_its_protocol_too(pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    r = curl(pki, proxy, f"http://127.0.0.1:{free_port()}/", "--http1.0")  # nothing listens there
    assert status_of(r) == 502
    (record,) = proxy.records()
    assert (record["code"], record["protocol"]) == ("upstream-unreachable", "HTTP/1.0"), json.dumps(record)
