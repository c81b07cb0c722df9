"""Upstream certificates are always validated; each failure has its own code and TMG status."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes

from bridgehead.runtime import tls
from tests.runtime.forward.conftest import ORIGIN_HOST, Pki, curl, python_origin, status_of
from tests.support.pki import Issued, TestCA, create_subordinate, issue_variant
from tests.support.procs import free_port, running


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


# ---- browser-grade validation: refuse what browsers refuse, accept what curl/Chrome/Windows accept ----------

@contextmanager
def s_server_origin(tmp: Path, item: Issued, *extra: str) -> Iterator[int]:
    """``openssl s_server -www`` presenting ``item`` and its chain file. Security level 0 on the origin so it can
    present certificates OpenSSL itself would refuse (SHA-1, RSA 1024): the proxy must do the refusing."""
    port = free_port()
    argv = ["openssl", "s_server", "-quiet", "-accept", str(port), "-cert", str(item.cert), "-key", str(item.key),
            "-cert_chain", str(item.chain), "-www", "-cipher", "DEFAULT:@SECLEVEL=0", *extra]
    with running(argv, port=port, log=tmp / f"s_server-{port}.log"):
        yield port


@pytest.fixture(scope="module")
def matrix(pki: Pki) -> dict[str, Any]:
    d = pki.dir / "matrix"
    rsa_root = TestCA.create(d / "rsa", "RSA Origin Root", rsa_key=True)
    constrained = create_subordinate(pki.ca, d / "nc", "Constrained Issuing CA", permitted_dns=["corp.example.test"])
    lax = create_subordinate(pki.ca, d / "lax", "Enterprise Issuing CA", basic_constraints_critical=False,
                             ski=False)
    lax_leaf = issue_variant(lax, "lax-leaf", dns=[ORIGIN_HOST])
    trusted_sub = create_subordinate(pki.other_ca, d / "anchor", "Trusted Intermediate")
    return {
        "rsa_root": rsa_root,
        "trusted_sub": trusted_sub,
        "refused": {
            "upstream-cert-leaf-is-ca": issue_variant(pki.ca, "ca-leaf", dns=[ORIGIN_HOST], leaf_ca=True),
            "upstream-cert-no-san": issue_variant(pki.ca, "cn-only", cn=ORIGIN_HOST, san=False),
            "upstream-cert-no-san (CN differs)": issue_variant(pki.ca, "cn-other", cn="other.test", san=False),
            "upstream-cert-name-constraints": issue_variant(constrained, "outside", dns=[ORIGIN_HOST]),
            "upstream-cert-weak-signature": issue_variant(rsa_root, "sha1", dns=[ORIGIN_HOST],
                                                          signature_hash=hashes.SHA1(), rsa_key=True),
            "upstream-cert-weak-signature (MD5)": issue_variant(rsa_root, "md5", dns=[ORIGIN_HOST],
                                                                signature_hash=hashes.MD5(), rsa_key=True),
            "upstream-cert-weak-key": issue_variant(rsa_root, "rsa1024", dns=[ORIGIN_HOST], rsa_key=True,
                                                    rsa_bits=1024),
        },
        "accepted": {
            "leaf without Authority Key Identifier (X509_STRICT error 85)":
                issue_variant(pki.ca, "no-aki", dns=[ORIGIN_HOST], aki=False),
            "issuing CA: Basic Constraints not critical, no SKI (X509_STRICT errors 89, 86)": lax_leaf,
            "leaf without Basic Constraints": issue_variant(pki.ca, "no-bc", dns=[ORIGIN_HOST],
                                                            basic_constraints=False),
            "chain to a trusted intermediate (partial chain, as Windows/browsers)":
                issue_variant(trusted_sub, "under-anchor", dns=[ORIGIN_HOST]),
            "RSA leaf from an RSA root, SHA-256": issue_variant(rsa_root, "rsa-ok", dns=[ORIGIN_HOST], rsa_key=True),
        },
    }


def test_browser_grade_refusals_are_named(tmp_path: Path, pki: Pki, start_proxy: Any, matrix: dict[str, Any]) -> None:
    proxy = start_proxy("--upstream-ca", str(matrix["rsa_root"].cert))
    for n, (case, item) in enumerate(matrix["refused"].items(), 1):
        code = case.split(" ")[0]
        with s_server_origin(tmp_path, item) as port:
            result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "-i", cacert=proxy.ca)
        assert status_of(result) == 502, (case, result.stdout[-500:], result.stderr)
        assert f"X-Bridgehead-Code: {code}" in result.stdout, (case, result.stdout[:600])
        record = proxy.records(expect=n)[-1]
        assert record["code"] == code and record["action"] == "deny", (case, record)
        assert record["reason"], case
    # and curl itself, as a browser stand-in, refuses the same certificates directly where it can tell
    with s_server_origin(tmp_path, matrix["refused"]["upstream-cert-weak-signature"]) as port:
        direct = curl(pki, None, f"https://{ORIGIN_HOST}:{port}/", cacert=matrix["rsa_root"].cert)
    assert status_of(direct) == 0 and "too weak" in direct.stderr


def test_what_curl_chrome_and_windows_accept_passes(tmp_path: Path, pki: Pki, start_proxy: Any,
                                                   matrix: dict[str, Any]) -> None:
    proxy = start_proxy("--upstream-ca", str(matrix["rsa_root"].cert), "--upstream-ca",
                        str(matrix["trusted_sub"].cert))
    bundle = tmp_path / "trusted.pem"  # what the proxy trusts, for curl on its own
    bundle.write_bytes(b"".join(ca.cert.read_bytes() for ca in (pki.ca, matrix["rsa_root"], matrix["trusted_sub"])))
    for case, item in matrix["accepted"].items():
        with s_server_origin(tmp_path, item) as port:
            direct = curl(pki, None, f"https://{ORIGIN_HOST}:{port}/", cacert=bundle)
            via = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "-i", cacert=proxy.ca)
        assert status_of(direct) == 200, (case, direct.stderr)  # curl accepts it ...
        assert status_of(via) == 200, (case, via.stdout[:600], via.stderr)  # ... and so does the proxy
        assert "X-Bridgehead-Code" not in via.stdout, case
        assert "s_server" in via.stdout or "Ciphers" in via.stdout, case  # the origin's own page


def test_strict_flag_is_not_set_and_explicit_checks_are() -> None:
    ctx = tls.client_context()
    assert not ctx.verify_flags & ssl.VERIFY_X509_STRICT
    assert ctx.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
