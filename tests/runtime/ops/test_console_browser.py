"""The web console in a real browser: Playwright driving Debian's Chromium against ``bridgehead serve``.

* Two array members (``serve --store sqlite:///… --member NAME --bind 127.0.0.x``) share one
  SQLite store file. Password sign-in on m1; traffic through m1's forward proxy (with Basic
  proxy authentication, so the log has a user) is filtered on the live log page by user,
  action, host and code, and a code link opens its explanation; an edit applied in m1's
  console reaches m2, whose status becomes "synced" at the new version and whose forward
  proxy then denies what the new rule denies; a page on another origin that auto-submits a
  form to the console (with the session's real CSRF token even) gets 403 and stores nothing;
  a screenshot of every page is decoded (zlib) and must not be blank.
* One node with the admin listener on HTTPS: a client certificate from ``[admin] client_ca``
  signs in without a password (its subject is shown), one from another CA gets the registry
  code page, no certificate leaves the password; the expiry board lists the inspection CA,
  listener, bridging, Auth and admin certificates and the CRL with days left, coloured by
  urgency (checked in the DOM and in the screenshot's pixels).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright

from bridgehead.core.ops.password import hash_password
from bridgehead.runtime.forward.auth import add_user
from tests.support.pki import TestCA
from tests.support.png import decode
from tests.support.procs import free_port, running, wait_port

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "console-test-password"
VIEWPORT = {"width": 800, "height": 450}
M1, M2 = "127.0.0.2", "127.0.0.3"
SYNCED = "Synced — Server configuration matches the stored configuration"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield b
        finally:
            b.close()


def _bh(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BRIDGEHEAD, *args], capture_output=True, text=True, timeout=60, input=stdin, cwd=cwd)


def _blank(browser: Browser) -> bytes:
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    page.set_content("<!doctype html><html><body></body></html>")
    shot = page.screenshot()
    page.close()
    return shot


def _not_blank(page: Page, blank: bytes, name: str, out: Path, *,
               full_page: bool = False) -> dict[tuple[int, int, int], int]:
    # full_page: the page's top-left 800 x 800 CSS pixels even where they lie below the viewport
    shot = page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 800}) \
        if full_page else page.screenshot()
    (out / f"{name}.png").write_bytes(shot)
    assert shot != blank, f"{name}: screenshot equals an empty page's"
    pixels = decode(shot)
    assert pixels.width == VIEWPORT["width"] and pixels.height >= VIEWPORT["height"]
    colours = pixels.colours()
    inked = sum(n for c, n in colours.items() if c != (255, 255, 255))
    assert len(colours) > 20 and inked > 0.01 * pixels.width * pixels.height, \
        f"{name}: {len(colours)} colours, {inked} non-white pixels"
    return dict(colours)


def _status(url: str) -> dict[str, Any]:
    result = _bh("status", "--store", url, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _gateway(fwd: int, admin: int, *, rules: str) -> str:
    return (f'state_dir = "state"\ndrain_timeout = "2s"\n{rules}'
            f'[forward]\nlisten = "127.0.0.1:{fwd}"\nauth = ["basic"]\nusers = "users.txt"\n'
            f'[admin]\nlisten = "127.0.0.1:{admin}"\npassword_hash = "{hash_password(PASSWORD)}"\n')


RULES_V1 = ('[[rule]]\nname = "alice-only"\naction = "allow"\ndestination = ["127.0.0.9"]\nusers = ["alice"]\n'
            '[[rule]]\nname = "loopback"\naction = "allow"\nsource = ["127.0.0.0/8"]\n')
BLOCK = '[[rule]]\nname = "block-test"\naction = "deny"\ndestination = ["127.0.0.5"]\n'


def _submit(page: Page, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def _via(proxy: str, url: str, auth: str = "") -> requests.Response:
    return requests.get(url, proxies={"http": f"http://{auth}{proxy}"}, timeout=10)


def test_array_console_apply_cross_site_log_and_pages(tmp_path: Path, browser: Browser) -> None:
    fwd, admin, dead = free_port(), free_port(), free_port()
    conf = tmp_path / "gateway.toml"
    add_user(tmp_path / "users.txt", "alice", "alice-pw")  # what `bridgehead users add` writes
    conf.write_text(_gateway(fwd, admin, rules=RULES_V1))
    store = f"sqlite:///{tmp_path / 'array.sqlite3'}"
    shots = tmp_path / "shots"
    shots.mkdir()
    blank = _blank(browser)
    env = {**os.environ, "BRIDGEHEAD_CA_PASSPHRASE": "array-ca-passphrase"}  # the array's CA in the store
    with contextlib.ExitStack() as stack:
        # m1 applies the file to the shared store (version 1) and serves it; m2 only reads the store
        argv = {"m1": ["--config", str(conf)], "m2": []}
        procs = {name: stack.enter_context(running(
            [BRIDGEHEAD, "serve", *argv[name], "--store", store, "--member", name, "--bind", addr, "--state-dir",
             str(tmp_path / name)], log=tmp_path / f"{name}.log", cwd=tmp_path, env=env))
            for name, addr in (("m1", M1), ("m2", M2))}
        for name, addr in (("m1", M1), ("m2", M2)):
            wait_port(admin, addr, 20, procs[name], tmp_path / f"{name}.log")
            wait_port(fwd, addr, 20, procs[name], tmp_path / f"{name}.log")
        console = f"http://{M1}:{admin}"
        ctx = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        page = ctx.new_page()

        # ---- sign-in with the password ---------------------------------------------------------
        page.goto(f"{console}/config")
        assert page.url == f"{console}/login"
        _not_blank(page, blank, "login", shots)
        page.fill("input[name=password]", "wrong")
        _submit(page, "button:has-text('Sign in')")
        assert page.locator("text=Wrong user name or password").count() == 1
        page.fill("input[name=password]", PASSWORD)
        _submit(page, "button:has-text('Sign in')")
        assert page.url == f"{console}/" and page.locator("#member").inner_text() == "m1"
        assert page.locator("#user").inner_text() == "admin"
        cookie = next(c for c in ctx.cookies() if c["name"] == "bh_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

        # ---- traffic through m1's forward proxy, then the live log's filters ---------------------
        assert _via(f"{M1}:{fwd}", f"http://127.0.0.9:{dead}/as-alice", "alice:alice-pw@").status_code == 502
        assert _via(f"{M1}:{fwd}", f"http://127.0.0.9:{dead}/anonymous").status_code == 407
        assert _via(f"{M1}:{fwd}", f"http://127.0.0.5:{dead}/before").status_code == 502
        page.goto(f"{console}/log")
        rows = page.locator("#records tr:not(:first-child)")
        assert rows.count() >= 3
        _not_blank(page, blank, "log", shots)

        def filtered(**q: str) -> list[list[str]]:
            for key, value in q.items():
                if key == "action":
                    page.select_option("select[name=action]", value)
                else:
                    page.fill(f"input[name={key}]", value)
            _submit(page, "button:has-text('Filter')")
            return [[c.strip() for c in r.locator("td").all_inner_texts()] for r in rows.all()]

        by_user = filtered(user="ALICE")  # columns: time service action host user status code url
        assert by_user and all(r[4] == "alice" for r in by_user)
        alice_code = by_user[0][6]
        assert alice_code and by_user[0][5] == "502"
        page.goto(f"{console}/log")
        denied = filtered(action="deny")
        assert denied and all(r[2] == "deny" and r[5] == "407" for r in denied)
        page.goto(f"{console}/log")
        assert all(r[3] == "127.0.0.5" for r in filtered(host="127.0.0.5")) and rows.count() == 1
        page.goto(f"{console}/log")
        by_code = filtered(code=alice_code)
        assert len(by_code) == 2 and {r[6] for r in by_code} == {alice_code}  # the two 502s
        page.goto(f"{console}/log")
        assert filtered(code="no-such-code") == []
        page.goto(f"{console}/log?user=alice")
        _submit(page, "#records a.code >> nth=0")
        assert page.url.startswith(f"{console}/explain?q=")
        assert page.locator("h3").first.inner_text().startswith(f"{alice_code}:")
        _not_blank(page, blank, "explain", shots)

        # ---- apply in m1's console: m2 picks it up ------------------------------------------------
        page.goto(f"{console}/config")
        source = page.locator("textarea[name=source]").input_value()
        assert "alice-only" in source
        page.fill("textarea[name=source]", source.replace('[[rule]]\nname = "alice-only"', BLOCK + '[[rule]]\n'
                                                          'name = "alice-only"', 1))
        started = time.monotonic()
        _submit(page, "button:has-text('Apply')")
        assert page.locator("#result").inner_text() == "Applied as version 2."
        _not_blank(page, blank, "config", shots)
        while True:
            status = _status(store)
            by = {m["name"]: m for m in status["members"]}
            if status["version"] == 2 and all(by[n]["state"] == "synced" and by[n]["applied_version"] == 2
                                              for n in ("m1", "m2")):
                break
            assert time.monotonic() - started < 10, status
            time.sleep(0.1)
        assert by["m2"]["message"] == SYNCED
        print(f"\nconsole apply → m2 synced at version 2: {time.monotonic() - started:.2f} s (SQLite, 1 s polling)")
        refused = _via(f"{M2}:{fwd}", f"http://127.0.0.5:{dead}/after")  # m2 serves the new rule
        assert refused.status_code == 403 and refused.headers["X-Bridgehead-Code"] == "forward-rule-denied"
        page.goto(f"{console}/members")
        assert page.locator("tr.synced[data-member=m2]").count() == 1
        assert SYNCED in page.locator("tr[data-member=m2]").inner_text()
        _not_blank(page, blank, "members", shots)

        # ---- a form on another origin that submits itself to the console: 403, nothing stored ----
        page.goto(f"{console}/config")
        csrf = page.locator("input[name=csrf]").first.input_value()  # even a leaked token does not help
        evil = tmp_path / "evil"
        evil.mkdir()
        (evil / "index.html").write_text(
            f'<!doctype html><form method=post action="{console}/config"><input type=hidden name=csrf '
            f'value="{csrf}"><input type=hidden name=source value="[forward]\nlisten = \'127.0.0.1:1\'\n">'
            "</form><script>document.forms[0].submit()</script>")
        for host in ("127.0.0.1", M1):  # cross-site (no cookie is sent) and same-site, cross-origin (it is)
            port = free_port()
            with running([sys.executable, "-m", "http.server", str(port), "--bind", host, "--directory",
                          str(evil)], port=port, host=host, log=tmp_path / f"evil-{host}.log"):
                with page.expect_response(lambda r: r.request.method == "POST") as answer:
                    page.goto(f"http://{host}:{port}/")
                assert answer.value.status == 403 and answer.value.url == f"{console}/config"
                page.wait_for_load_state()
                assert "refused" in page.content()
        assert _status(store)["version"] == 2
        assert "refused a POST to /config" in (tmp_path / "m1.log").read_text()

        # ---- every other page, screenshot checked -----------------------------------------------
        for path, name in (("/", "overview"), ("/bypass", "bypass"), ("/certs", "certs")):
            page.goto(f"{console}{path}")
            assert page.locator("h1").count() == 1
            _not_blank(page, blank, name, shots)
        assert page.locator("#board tr.ok").count() >= 1  # m1's inspection CA
        ctx.close()


def _board_config(tmp_path: Path, admin: int, fwd: int, edge: int) -> tuple[str, dict[str, Any]]:
    pki = tmp_path / "pki"
    admins = TestCA.create(pki / "admins", "Console Admins CA")
    other = TestCA.create(pki / "other", "Some Other CA")
    servers = TestCA.create(pki / "servers", "Server CA")
    devices = TestCA.create(pki / "devices", "Device CA")
    files: dict[str, Any] = {
        "alice": admins.issue("alice", cn="Alice Admin", server=False, client=True),
        "mallory": other.issue("mallory", cn="Mallory", server=False, client=True),
        "admin_tls": servers.issue("admin-tls", dns=["localhost"], ips=["127.0.0.1"], days=100),
        "edge": servers.issue("edge", dns=["localhost"], ips=["127.0.0.1"], days=10),
        "bridge": devices.issue("bridge", cn="Proxy Bridge", server=False, client=True, days=-3),
        "crl": devices.write_crl([], next_update_days=7),
    }
    text = (f'state_dir = "state"\ndrain_timeout = "2s"\n[forward]\nlisten = "127.0.0.1:{fwd}"\n'
            f'[[listener]]\nname = "edge"\nlisten = "127.0.0.1:{edge}"\n'
            f'certificates = [{{ cert = "{files["edge"].chain}", key = "{files["edge"].key}" }}]\n'
            f'client_ca = ["{devices.cert}"]\n'
            f'revocation = {{ crl = ["{files["crl"]}"], max_age = "1h", fail = "closed" }}\n'
            f'[[route]]\nname = "owa"\nhosts = ["localhost"]\nmode = "reencrypt"\n'
            f'backend = "https://localhost:{free_port()}"\nbackend_ca = "{servers.cert}"\n'
            f'client_certificate = "required"\n'
            f'bridging_certificate = {{ cert = "{files["bridge"].cert}", key = "{files["bridge"].key}" }}\n'
            f'[admin]\nlisten = "127.0.0.1:{admin}"\npassword_hash = "{hash_password(PASSWORD)}"\n'
            f'tls_cert = "{files["admin_tls"].chain}"\ntls_key = "{files["admin_tls"].key}"\n'
            f'client_ca = "{admins.cert}"\n')
    return text, files


def test_client_certificate_sign_in_and_expiry_board(tmp_path: Path, browser: Browser) -> None:
    admin, fwd, edge = free_port(), free_port(), free_port()
    text, files = _board_config(tmp_path, admin, fwd, edge)
    conf = tmp_path / "gateway.toml"
    conf.write_text(text)
    made = _bh("authcert", "new", "--days", "30", "--state-dir", str(tmp_path / "state"), "--json")
    assert made.returncode == 0, made.stderr
    console = f"https://127.0.0.1:{admin}"
    blank = _blank(browser)
    shots = tmp_path / "shots"
    shots.mkdir()
    with running([BRIDGEHEAD, "serve", "--config", str(conf)], port=admin, log=tmp_path / "serve.log",
                 cwd=tmp_path):
        def context(who: str | None) -> Any:
            certs: list[Any] = [{"origin": console, "certPath": str(files[who].cert), "keyPath": str(files[who].key)}] \
                if who else []
            return browser.new_context(viewport=VIEWPORT, ignore_https_errors=True,  # type: ignore[arg-type]
                                       client_certificates=certs)

        # a certificate from [admin] client_ca: signed in, no password, its subject shown
        ctx = context("alice")
        page = ctx.new_page()
        page.goto(f"{console}/members")
        assert page.url == f"{console}/" and page.locator("#user").inner_text() == "CN=Alice Admin"
        cookie = next(c for c in ctx.cookies() if c["name"] == "bh_session")
        assert cookie["secure"] and cookie["httpOnly"]
        page.goto(f"{console}/certs")
        board = {(r.locator("td").nth(2).inner_text(), r.locator("td").nth(3).inner_text()):
                 (r.get_attribute("class"), r.locator("td").nth(1).inner_text())
                 for r in page.locator("#board tr:not(:first-child)").all()}
        assert board[("listener certificate", "listener edge")][0] == "red"
        left = (files["edge"].certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)).days
        assert board[("listener certificate", "listener edge")][1] in (f"{left} days left", f"{left - 1} days left")
        assert board[("bridging certificate", "route owa")] == ("expired", "expired 3 days ago")
        assert board[("CRL", "listener edge")][0] == "red"
        assert board[("Auth Certificate (current)", "oauth")][0] == "amber"
        assert board[("admin listener certificate", "admin")][0] == "ok"
        assert board[("inspection CA", "forward")][0] == "ok"
        assert board[("admins' client CA", "admin")][0] == "ok"
        colours = _not_blank(page, blank, "certs-tls", shots, full_page=True)
        for name, rgb in (("red", (0xF8, 0xD0, 0xD0)), ("amber", (0xFB, 0xE7, 0xB5)), ("ok", (0xDC, 0xEF, 0xDC))):
            assert colours.get(rgb, 0) > 200, f"no {name} rows painted"
        ctx.close()

        # a certificate from another CA: the registry code page, no session
        ctx = context("mallory")
        page = ctx.new_page()
        answer = page.goto(f"{console}/")
        assert answer is not None and answer.status == 403
        assert answer.headers["x-bridgehead-code"] == "edge-client-cert-untrusted"
        assert page.locator("#code").inner_text() == "edge-client-cert-untrusted"
        _not_blank(page, blank, "refused-certificate", shots)
        assert not [c for c in ctx.cookies() if c["name"] == "bh_session"]
        ctx.close()

        # no certificate: the password still signs in, over HTTPS
        ctx = context(None)
        page = ctx.new_page()
        page.goto(f"{console}/")
        assert page.url == f"{console}/login"
        page.fill("input[name=password]", PASSWORD)
        _submit(page, "button:has-text('Sign in')")
        assert page.locator("#user").inner_text() == "admin"
        ctx.close()
    log = (tmp_path / "serve.log").read_text()
    assert "CN=Alice Admin signed in (certificate)" in log and "edge-client-cert-untrusted" in log
    assert PASSWORD not in log
