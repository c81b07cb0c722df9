"""Upstream certificates are always validated; each failure has its own code and TMG status."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.forward.conftest import ORIGIN_HOST, Pki, curl, python_origin, status_of


def _bad_certs(pki: Pki) -> dict[str, object]:
    ca = pki.ca
    return {
        "upstream-cert-expired": ca.issue("expired", dns=[ORIGIN_HOST], days=-2),
        "upstream-cert-not-yet-valid": ca.issue("future", dns=[ORIGIN_HOST], not_before_days=5),
        "upstream-cert-untrusted": pki.other_ca.issue("untrusted", dns=[ORIGIN_HOST]),
        "upstream-cert-name-mismatch": ca.issue("wrongname", dns=["other.example.test"]),
        "upstream-cert-not-server": ca.issue("clientonly", dns=[ORIGIN_HOST], server=False, client=True),
    }


TMG = {"upstream-cert-expired": 12225, "upstream-cert-not-yet-valid": 12224, "upstream-cert-untrusted": 12226,
       "upstream-cert-name-mismatch": 12227, "upstream-cert-not-server": 12228, "upstream-cert-revoked": 12230}


@pytest.mark.parametrize("code", sorted(TMG.keys() - {"upstream-cert-revoked"}))
def test_each_certificate_failure_is_named(tmp_path: Path, pki: Pki, start_proxy, code: str) -> None:
    cert = _bad_certs(pki)[code]
    proxy = start_proxy()
    with python_origin(tmp_path, cert) as port:  # type: ignore[arg-type]
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "-i", cacert=proxy.ca)
    assert status_of(result) == 502, result.stderr
    assert f"X-Bridgehead-Code: {code}" in result.stdout
    assert f"X-Bridgehead-TMG-Status: {TMG[code]}" in result.stdout
    (record,) = proxy.records()
    assert record["code"] == code and record["tmg_status"] == TMG[code] and record["action"] == "deny"


def test_revoked_certificate_by_crl(tmp_path: Path, pki: Pki, start_proxy) -> None:
    revoked = pki.ca.issue("revoked", dns=[ORIGIN_HOST])
    crl = pki.ca.write_crl([revoked], tmp_path / "ca.crl")
    proxy = start_proxy("--upstream-crl", str(crl))
    with python_origin(tmp_path, revoked) as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "-i", cacert=proxy.ca)
    assert status_of(result) == 502
    assert "X-Bridgehead-Code: upstream-cert-revoked" in result.stdout
    # a certificate of the same CA that is not on the CRL still passes
    with python_origin(tmp_path, pki.server) as port:
        assert status_of(curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", cacert=proxy.ca)) == 200


def test_unreachable_and_unresolvable_destinations(tmp_path: Path, pki: Pki, start_proxy) -> None:
    from tests.support.procs import free_port

    proxy = start_proxy()
    closed = free_port()
    result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{closed}/", "-i", cacert=proxy.ca)
    assert status_of(result) == 502 and "upstream-unreachable" in result.stdout
    result = curl(pki, proxy, "https://no-such-host.invalid/", "-i", cacert=proxy.ca)
    assert status_of(result) == 502 and "upstream-dns-failed" in result.stdout
