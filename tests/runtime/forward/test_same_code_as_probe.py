"""One classify step: the same real failure gets the same code from the forward proxy and from ``probe``.

Each case is a real ``openssl s_server`` that fails a handshake in one way — a certificate from a CA
nobody trusts (X509_V_ERR 19/20), a certificate without the serverAuth purpose (X509_V_ERR 26), a server
that speaks only TLS 1.1 (alert 70 protocol_version, RFC 8446 §6.2), a server that requires a client
certificate and refuses an untrusted one (alert 48 unknown_ca). curl goes through ``bridgehead forward``
(the code is in the 502 page's header and the access log), ``bridgehead probe`` goes direct; both
trust the same CA.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.forward.conftest import ORIGIN_HOST, Pki, curl, status_of
from tests.support.procs import free_port, running

BH = [sys.executable, "-m", "bridgehead"]


def _server(pki: Pki, case: str) -> list[str]:
    certs = {"untrusted": pki.other_ca.issue("untrusted", dns=[ORIGIN_HOST]),
             "not-server": pki.ca.issue("client-only", dns=[ORIGIN_HOST], server=False, client=True)}
    cert = certs.get(case, pki.server)
    extra = {"tls1.1": ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]}.get(case, [])
    return ["openssl", "s_server", "-www", "-cert", str(cert.cert), "-key", str(cert.key), *extra]


def _probe_code(url: str, ca: Path) -> str:
    done = subprocess.run([*BH, "probe", url, "--ca", str(ca), "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    return str(json.loads(done.stdout)["findings"][0]["code"])


@pytest.mark.parametrize(("case", "code"), [("untrusted", "upstream-cert-untrusted"),
                                            ("not-server", "upstream-cert-not-server"),
                                            ("tls1.1", "tls-alert-70")])
def test_forward_proxy_and_probe_name_the_failure_alike(tmp_path: Path, pki: Pki, start_proxy: Any, case: str,
                                                       code: str) -> None:
    port = free_port()
    proxy = start_proxy()
    with running([*_server(pki, case), "-accept", f"127.0.0.1:{port}"], port=port, log=tmp_path / "s_server.log"):
        url = f"https://{ORIGIN_HOST}:{port}/"
        result = curl(pki, proxy, url, "-i", cacert=proxy.ca)
        probed = _probe_code(url, pki.ca.cert)
    assert status_of(result) == 502, result.stdout + result.stderr
    assert f"X-Bridgehead-Code: {code}" in result.stdout, result.stdout
    (record,) = proxy.records()
    assert record["code"] == code == probed


def test_client_certificate_refused_by_the_server(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    """The server requires a certificate of its CA; the forward proxy presents one of another CA
    (``[[client_cert_rule]] action = "present"``), the probe the same one with ``--cert``. TLS 1.2: the
    refusal is an alert in the handshake (under TLS 1.3 it comes after it, inside the relayed exchange,
    whose sans-IO layer does not carry the alert's code yet)."""
    version = "-tls1_2"
    foreign = pki.other_ca.issue("foreign-client", client=True, server=False)
    config = tmp_path / "forward.toml"
    config.write_text(f'[[client_cert_rule]]\ndestination = "{ORIGIN_HOST}"\naction = "present"\n'
                      f'cert = "{foreign.cert}"\nkey = "{foreign.key}"\n')
    proxy = start_proxy("--config", str(config))
    port = free_port()
    argv = [*_server(pki, "ok"), "-Verify", "1", "-verify_return_error", "-CAfile", str(pki.ca.cert), version,
            "-accept", f"127.0.0.1:{port}"]
    with running(argv, port=port, log=tmp_path / "s_server.log"):
        url = f"https://{ORIGIN_HOST}:{port}/"
        result = curl(pki, proxy, url, "-i", cacert=proxy.ca)
        done = subprocess.run([*BH, "probe", url, "--ca", str(pki.ca.cert), "--cert", str(foreign.cert), "--key",
                               str(foreign.key), "--json"], capture_output=True, text=True, timeout=60)
    probed = json.loads(done.stdout)["findings"][0]["code"]
    assert done.returncode == 1 and status_of(result) == 502, result.stdout
    assert "X-Bridgehead-Code: tls-alert-48" in result.stdout
    (record,) = proxy.records()
    assert record["code"] == probed == "tls-alert-48"  # unknown_ca: the server does not trust that certificate
