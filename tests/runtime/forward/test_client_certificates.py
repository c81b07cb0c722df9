"""Scenario S1: a server that asks for a client certificate, behind the inspecting proxy.

The heart of seed 000: with TMG the first connection failed with 502/12229. Here the first
connection through the inspecting proxy reaches nginx with the client's own certificate.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, Pki, curl, nginx_origin, python_origin, status_of


@pytest.mark.parametrize("tls", ["TLSv1.2", "TLSv1.3"])
def test_first_connection_reaches_required_mtls_origin_with_clients_certificate(
        tmp_path: Path, pki: Pki, start_proxy, tls: str) -> None:
    proxy = start_proxy()
    with nginx_origin(tmp_path, pki, verify="on", tls=tls) as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "--cert", str(pki.client.cert),
                      "--key", str(pki.client.key), cacert=pki.ca.cert)
    assert status_of(result) == 200, result.stderr
    assert "client=CN=dirsync01 verify=SUCCESS" in result.stdout
    (record,) = [r for r in proxy.records() if r["port"] == port]
    assert record["action"] == "tunnel"
    assert record["code"] == "client-cert-spliced" and record["status"] == 200  # informational, not 12229
    assert "CertificateRequest" in str(record["reason"])
    scan = subprocess.run([BRIDGEHEAD, "logs", "scan", "--json", str(proxy.log)], capture_output=True, text=True,
                          timeout=60)
    assert "client-cert-spliced" not in scan.stdout and "client-cert-under-inspection" not in scan.stdout


def test_optional_client_certificate_also_tunnels(tmp_path: Path, pki: Pki, start_proxy) -> None:
    proxy = start_proxy()
    with nginx_origin(tmp_path, pki, verify="optional") as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "--cert", str(pki.client.cert),
                      "--key", str(pki.client.key), cacert=pki.ca.cert)
    assert status_of(result) == 200, result.stderr
    assert "verify=SUCCESS" in result.stdout


def test_block_answers_tmg_compatible_502(tmp_path: Path, pki: Pki, start_proxy) -> None:
    proxy = start_proxy("--on-client-cert-request", "block")
    with nginx_origin(tmp_path, pki, verify="on") as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/api", "-i", "--cert", str(pki.client.cert),
                      "--key", str(pki.client.key), cacert=proxy.ca)
    assert status_of(result) == 502, result.stderr
    assert "X-Bridgehead-Code: client-cert-under-inspection" in result.stdout
    assert "X-Bridgehead-TMG-Status: 12229" in result.stdout
    assert "requires a client certificate that cannot be supplied under HTTPS inspection" in result.stdout
    (record,) = proxy.records()
    assert record["action"] == "deny" and record["tmg_status"] == 12229
    assert record["url"] == f"https://{ORIGIN_HOST}:{port}/api"


def test_present_uses_configured_client_certificate(tmp_path: Path, pki: Pki, start_proxy) -> None:
    bridging = pki.ca.issue("bridging", cn="bridgehead-bridging", client=True, server=False)
    config = tmp_path / "forward.toml"
    config.write_text(
        f'on_client_cert_request = "block"\n'
        f'[[client_cert_rule]]\ndestination = "{ORIGIN_HOST}"\naction = "present"\n'
        f'cert = "{bridging.cert}"\nkey = "{bridging.key}"\n')
    proxy = start_proxy("--config", str(config))
    with nginx_origin(tmp_path, pki, verify="on") as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", cacert=proxy.ca)
    assert status_of(result) == 200, result.stderr
    assert "client=CN=bridgehead-bridging verify=SUCCESS" in result.stdout
    (record,) = proxy.records()
    assert record["action"] == "inspect" and "present" in str(record["rule"])


def test_origin_without_certificate_request_is_inspected(tmp_path: Path, pki: Pki, start_proxy) -> None:
    proxy = start_proxy()
    with nginx_origin(tmp_path, pki, verify="off") as port:
        # trusting only the bridgehead CA proves the client talked to the minted certificate
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/x?token=secret123", cacert=proxy.ca)
    assert status_of(result) == 200, result.stderr
    (record,) = proxy.records()
    assert record["action"] == "inspect" and record["status"] == 200
    assert "secret123" not in proxy.log.read_text()


@pytest.mark.parametrize("max_tls", ["1.2", "1.3"])
def test_python_origin_required_cert_tunnels(tmp_path: Path, pki: Pki, start_proxy, max_tls: str) -> None:
    proxy = start_proxy()
    with python_origin(tmp_path, pki.server, "--client-ca", str(pki.ca.cert), "--verify", "required",
                       "--max-tls", max_tls) as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "--cert", str(pki.client.cert),
                      "--key", str(pki.client.key), cacert=pki.ca.cert)
    assert status_of(result) == 200, result.stderr
    assert '"client_cert": "commonName=dirsync01"' in result.stdout


def test_two_workers_share_the_socket_and_stop_together(tmp_path: Path, pki: Pki, start_proxy) -> None:
    import os

    from tests.support.procs import stop

    proxy = start_proxy("--workers", "2")
    with nginx_origin(tmp_path, pki, verify="optional") as port:
        for _ in range(4):
            result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "--cert", str(pki.client.cert),
                          "--key", str(pki.client.key), cacert=pki.ca.cert)
            assert status_of(result) == 200, result.stderr
    assert len(proxy.records(expect=4)) == 4
    children = [int(p) for p in Path(f"/proc/{proxy.proc.pid}/task/{proxy.proc.pid}/children").read_text().split()]
    assert len(children) == 1
    stop(proxy.proc)
    assert not any(os.path.exists(f"/proc/{pid}/status") and "zombie" not in
                   Path(f"/proc/{pid}/status").read_text() for pid in children)
