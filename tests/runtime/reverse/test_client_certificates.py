"""Client certificates at the edge (scenario S4, seed 004) with curl and requests against nginx:
trusted CA, other CA (12221), expired, restriction failed (12222), none (12213), the Basic
fallback on the same listener, identity mapping, and revocation through a CRL the test updates
(refused within max_age) with fail closed/open."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.runtime.reverse.conftest import PASSWORD, Pki, curl, listener, nginx_backend, status_of


def _config(pki: Pki, port: int, *, client_certificate: str = "required", fallback: str = "none",
            identity: str = "header", revocation: str = "", extra_listener: str = "") -> str:
    return listener(pki, extra=revocation + extra_listener + f'basic_users = "{pki.users}"\n') + (
        f'\n[[route]]\nname = "eas"\nhosts = ["localhost"]\npaths = ["/Microsoft-Server-ActiveSync"]\n'
        f'mode = "reencrypt"\nbackend = "https://localhost:{port}"\nbackend_ca = "{pki.internal.cert}"\n'
        f'client_certificate = "{client_certificate}"\nfallback = "{fallback}"\nidentity = "{identity}"\n'
        f'\n[[route]]\nname = "open"\nhosts = ["localhost"]\npaths = ["/public/"]\nmode = "reencrypt"\n'
        f'backend = "https://localhost:{port}"\nbackend_ca = "{pki.internal.cert}"\n')


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, pki: Pki):  # type: ignore[no-untyped-def]
    with nginx_backend(tmp_path_factory.mktemp("nginx"), pki) as port:
        yield port


def _eas(proxy) -> str:  # type: ignore[no-untyped-def]
    return f"https://localhost:{proxy.port}/Microsoft-Server-ActiveSync?Cmd=Sync"


def test_trusted_certificate_maps_upn_and_reaches_backend(pki: Pki, backend: int, start_reverse) -> None:
    proxy = start_reverse(_config(pki, backend))
    r = curl(pki, _eas(proxy), cert=pki.alice)
    assert status_of(r) == 200, r.stdout + r.stderr
    assert "user=alice@EXAMPLE.TEST " in r.stdout
    (rec,) = proxy.records(action="publish")
    assert rec["identity"] == "alice@EXAMPLE.TEST" and rec["identity_source"] == "certificate"
    assert rec["cert_subject"] == "CN=Alice Device" and rec["cert_issuer"] == "CN=Company Device CA"
    # with requests too, and e-mail mapping for a certificate without UPN
    resp = requests.get(_eas(proxy), cert=(str(pki.bob.cert), str(pki.bob.key)), verify=str(pki.public.cert),
                        timeout=20)
    assert resp.status_code == 200 and "user=bob@example.test " in resp.text


@pytest.mark.parametrize("who,code,tmg", [
    ("mallory", "edge-client-cert-untrusted", "12221"),
    ("expired", "edge-client-cert-expired", None),
    ("server_only", "edge-client-cert-not-acceptable", "12222"),
    (None, "edge-client-cert-missing", "12213"),
])
def test_refusals_name_their_cause(pki: Pki, backend: int, start_reverse, who: str | None, code: str,
                                   tmg: str | None) -> None:
    proxy = start_reverse(_config(pki, backend))
    r = curl(pki, _eas(proxy), "-i", cert=getattr(pki, who) if who else None)
    assert status_of(r) == 403, r.stdout + r.stderr
    assert f"X-Bridgehead-Code: {code}" in r.stdout
    if tmg:
        assert f"X-Bridgehead-TMG-Status: {tmg}" in r.stdout
    (rec,) = proxy.records(action="deny")
    assert rec["code"] == code and rec["route"] == "eas"
    # a route with client_certificate = off on the same listener ignores the certificate
    public = curl(pki, f"https://localhost:{proxy.port}/public/", cert=getattr(pki, who) if who else None)
    assert status_of(public) == 200


def test_optional_passes_without_certificate_but_refuses_a_bad_one(pki: Pki, backend: int, start_reverse) -> None:
    proxy = start_reverse(_config(pki, backend, client_certificate="optional"))
    assert status_of(curl(pki, _eas(proxy))) == 200
    assert status_of(curl(pki, _eas(proxy), cert=pki.mallory)) == 403


def test_fallback_basic_on_the_same_listener(pki: Pki, backend: int, start_reverse) -> None:
    proxy = start_reverse(_config(pki, backend, fallback="basic", identity="header"))
    r = curl(pki, _eas(proxy), "-i")
    assert status_of(r) == 401 and 'WWW-Authenticate: Basic realm="localhost"' in r.stdout
    wrong = requests.get(_eas(proxy), auth=("CORP\\alice", "wrong"), verify=str(pki.public.cert), timeout=20)
    assert wrong.status_code == 401 and wrong.headers["X-Bridgehead-Code"] == "edge-basic-logon-failed"
    ok = requests.get(_eas(proxy), auth=("CORP\\alice", PASSWORD), verify=str(pki.public.cert), timeout=20)
    assert ok.status_code == 200, ok.text
    assert "user=CORP\\alice " in ok.text and "auth= " in ok.text  # the edge consumed the password
    # the certificate still works on the same listener and port
    assert "user=alice@EXAMPLE.TEST " in curl(pki, _eas(proxy), cert=pki.alice).stdout
    assert PASSWORD not in proxy.log.read_text()


def test_basic_passthrough_forwards_the_validated_header(pki: Pki, backend: int, start_reverse) -> None:
    proxy = start_reverse(_config(pki, backend, fallback="basic", identity="basic-passthrough"))
    ok = requests.get(_eas(proxy), auth=("CORP\\alice", PASSWORD), verify=str(pki.public.cert), timeout=20)
    assert ok.status_code == 200 and "auth=Basic " in ok.text


def test_revoked_certificate_refused_within_max_age(tmp_path: Path, pki: Pki, backend: int, start_reverse) -> None:
    crl = pki.company.write_crl([], tmp_path / "company.crl")
    revocation = f'revocation = {{ crl = ["{crl}"], max_age = "1s", fail = "closed" }}\n'
    proxy = start_reverse(_config(pki, backend, revocation=revocation))
    with requests.Session() as session:  # one keep-alive connection, re-checked per request
        session.cert = (str(pki.carol.cert), str(pki.carol.key))
        assert session.get(_eas(proxy), verify=str(pki.public.cert), timeout=20).status_code == 200
        assert status_of(curl(pki, _eas(proxy), cert=pki.carol)) == 200
        pki.company.write_crl([pki.carol], crl)
        revoked_at = time.monotonic()
        deadline = revoked_at + 5
        while time.monotonic() < deadline:
            if status_of(curl(pki, _eas(proxy), cert=pki.carol)) == 403:
                break
            time.sleep(0.1)
        took = time.monotonic() - revoked_at
        assert took <= 1.0 + 1.0, f"revocation took {took:.2f}s with max_age 1s"
        again = session.get(_eas(proxy), verify=str(pki.public.cert), timeout=20)
    assert again.status_code == 403 and again.headers["X-Bridgehead-Code"] == "edge-client-cert-revoked"
    assert status_of(curl(pki, _eas(proxy), cert=pki.alice)) == 200  # others unaffected
    assert any(r["code"] == "edge-client-cert-revoked" for r in proxy.records(action="deny"))


@pytest.mark.parametrize("fail,status", [("closed", 403), ("open", 200)])
def test_unreachable_crl_fails_closed_or_open(tmp_path: Path, pki: Pki, backend: int, start_reverse, fail: str,
                                              status: int) -> None:
    revocation = (f'revocation = {{ crl = ["http://127.0.0.1:9/none.crl"], max_age = "30s", fail = "{fail}", '
                  f'timeout = "2s" }}\n')
    proxy = start_reverse(_config(pki, backend, revocation=revocation))
    r = curl(pki, _eas(proxy), "-i", cert=pki.alice)
    assert status_of(r) == status, r.stdout
    if fail == "closed":
        assert "X-Bridgehead-Code: edge-revocation-unavailable" in r.stdout
    else:
        (rec,) = proxy.records(action="publish")
        assert "fail = open" in str(rec["revocation"])
