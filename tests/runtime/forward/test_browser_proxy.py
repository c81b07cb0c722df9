"""Headless Chromium authenticating to the forward proxy (issue 13, Done-when): Basic and NTLM with
the credentials Playwright hands it (``proxy={"server", "username", "password"}``), and Negotiate
with a Kerberos ticket from the tests' Heimdal realm (no credentials given: Chromium asks GSSAPI,
``libgssapi_krb5.so.2``, for a ticket to ``HTTP/proxy.example.test``).

The browser trusts the inspection CA for real, through its NSS database (``$HOME/.pki/nssdb``,
``certutil -t "C,,"``, tests/support/browser_nss.py): no ``ignore_https_errors``, no
certificate-error switches. Each case loads an https page of a Python ``ssl`` origin through the
inspecting proxy, checks the origin's answer reached the page and the access record names the
user Chromium authenticated as.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, Pki, python_origin
from tests.support import kdc
from tests.support.browser_nss import CHROMIUM, browser_env, nss_home

PASSWORD = "Chromium-Pw1"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _users(tmp_path: Path) -> Path:
    path = tmp_path / "users.txt"
    done = subprocess.run([BRIDGEHEAD, "users", "add", str(path), "CORP\\alice"], input=PASSWORD + "\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return path


def _load(home: Path, proxy: dict[str, str], url: str, *, args: tuple[str, ...] = (),
          env: dict[str, str] | None = None) -> tuple[int, str]:
    """Chromium loads ``url`` through ``proxy``: (status, the page's text)."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, timeout=30000, proxy=proxy,
                                     env={**browser_env(home), **(env or {})}, args=[*ARGS, *args])
        try:
            page = browser.new_page()
            response = page.goto(url, timeout=20000)
            assert response is not None
            return response.status, page.inner_text("body")
        finally:
            browser.close()


def _origin_answered(text: str) -> dict[str, Any]:
    seen: dict[str, Any] = json.loads(text)
    assert seen["path"] == "/browser"
    return seen


@pytest.mark.parametrize("scheme", ["basic", "ntlm"])
def test_chromium_basic_and_ntlm(tmp_path: Path, pki: Pki, start_proxy: Any, scheme: str) -> None:
    proxy = start_proxy("--auth", scheme, "--users", str(_users(tmp_path)))
    home = nss_home(tmp_path / "home", proxy.ca)  # the inspection CA only
    with python_origin(tmp_path, pki.server) as port:
        url = f"https://{ORIGIN_HOST}:{port}/browser"
        user = "alice" if scheme == "basic" else "CORP\\alice"
        status, text = _load(home, {"server": proxy.url, "username": user, "password": PASSWORD}, url)
    assert status == 200, text
    _origin_answered(text)
    records = proxy.records(expect=2)
    challenged = [r for r in records if r["status"] == 407]
    assert challenged, records  # Chromium answered a real 407 challenge
    ok = [r for r in records if r["url"] == url and r["status"] == 200]
    assert ok and ok[0]["user"] == "CORP\\alice" and ok[0]["action"] == "inspect", records
    assert PASSWORD not in proxy.log.read_text()


def test_chromium_negotiate_with_a_kerberos_ticket(tmp_path: Path, pki: Pki, start_proxy: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Chromium canonicalises the proxy's host before it builds the SPN (a DNS lookup of the name).
    Tried first: the proxy named ``proxy.example.test``, mapped with ``--host-resolver-rules`` and
    ``--disable-auth-negotiate-cname-lookup`` given — Chromium 156 still asked for ``HTTP@127.0.0.1``
    (its net-log: AUTH_LIBRARY_IMPORT_NAME spn HTTP@127.0.0.1, then "Server not found in Kerberos
    database"); the switch made no difference, the DisableAuthNegotiateCnameLookup policy would need
    /etc/chromium/policies. So the proxy is addressed as 127.0.0.1 and the realm gets the service
    ``HTTP/127.0.0.1``, the proxy its keytab. Proxies need no ``--auth-server-allowlist`` (the
    net-log shows allows_default_credentials true for a proxy target)."""
    if not kdc.heimdal_available():
        pytest.fail("Heimdal KDC missing: scripts/setup.sh --dev installs heimdal-kdc")
    realm = kdc.Realm.create(tmp_path / "realm")
    keytab = tmp_path / "proxy-127.keytab"
    realm.kadmin("add", "--random-key", "--use-defaults", "HTTP/127.0.0.1")
    realm.kadmin("ext_keytab", "-k", f"FILE:{keytab}", "HTTP/127.0.0.1")
    realm.start()
    try:
        env = {**pki.client_env(), **realm.env()}
        got = subprocess.run(["kinit", "--password-file=STDIN", "alice@EXAMPLE.TEST"], input="alice-Pw1\n",
                             capture_output=True, text=True, env=env, timeout=30)
        assert got.returncode == 0, got.stderr
        monkeypatch.setenv("KRB5_CONFIG", str(realm.conf))  # the proxy's acceptor reads the realm's krb5.conf
        proxy = start_proxy("--auth", "negotiate", "--keytab", str(keytab))
        home = nss_home(tmp_path / "home", proxy.ca)
        krb = {k: v for k, v in realm.env().items() if k.startswith("KRB5")}  # KRB5CCNAME: alice's ticket
        with python_origin(tmp_path, pki.server) as port:
            url = f"https://{ORIGIN_HOST}:{port}/browser"
            status, text = _load(home, {"server": proxy.url}, url, env=krb)  # no username: the ticket
        assert status == 200, text
        _origin_answered(text)
        records = proxy.records(expect=2)
        ok = [r for r in records if r["url"] == url and r["status"] == 200]
        assert ok and ok[0]["user"] == "EXAMPLE.TEST\\alice", records
        assert any(r["status"] == 407 for r in records)
    finally:
        realm.stop()
