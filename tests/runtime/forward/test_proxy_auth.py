"""Proxy authentication and access rules over real sockets: curl and Python requests against
`bridgehead forward` (Basic, NTLM, Negotiate with a ticket from a Heimdal realm), rule-naming
403 pages, a DirSync-like client exempt by source, the open-proxy guard via --check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, Pki, curl, python_origin, status_of
from tests.support import kdc

PASSWORD = "Pa55-proxy:w0rd"  # a colon inside: Basic splits at the first one only (RFC 7617 §2)


def add_user(path: Path, name: str, password: str = PASSWORD) -> None:
    done = subprocess.run([BRIDGEHEAD, "users", "add", str(path), name], input=password + "\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "proxy-users.txt"
    add_user(path, "CORP\\alice")
    add_user(path, "bob", "bob-Pw1")
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "forward.toml"
    path.write_text(text)
    return path


def test_users_file_has_no_password_and_is_private(users: Path) -> None:
    text = users.read_text()
    assert PASSWORD not in text and "bob-Pw1" not in text
    assert oct(users.stat().st_mode & 0o777) == "0o600"
    done = subprocess.run([BRIDGEHEAD, "users", "add", str(users), "carol"], input="", capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "empty password" in done.stderr


def test_basic_with_curl_and_requests(tmp_path: Path, pki: Pki, start_proxy, users: Path) -> None:
    proxy = start_proxy("--auth", "basic", "--users", str(users))
    with python_origin(tmp_path, pki.server) as port:
        url = f"https://{ORIGIN_HOST}:{port}/hello"
        denied = curl(pki, proxy, url, "--cacert", str(proxy.ca), "-i")
        assert "407" in denied.stdout + denied.stderr
        wrong = curl(pki, proxy, url, "--cacert", str(proxy.ca), "--proxy-user", "bob:nope")
        assert "407" in wrong.stderr
        ok = curl(pki, proxy, url, "--cacert", str(proxy.ca), "--proxy-user", f"alice:{PASSWORD}")
        assert status_of(ok) == 200, ok.stderr
        session = requests.Session()
        session.trust_env = False
        proxies = {"http": f"http://bob:bob-Pw1@127.0.0.1:{proxy.port}",
                   "https": f"http://bob:bob-Pw1@127.0.0.1:{proxy.port}"}
        r = session.get(url, proxies=proxies, verify=str(proxy.ca), timeout=20)
        assert r.status_code == 200
    records = proxy.records(expect=4)
    users_seen = {rec["user"] for rec in records if rec["action"] == "inspect"}
    assert users_seen == {"CORP\\alice", "bob"}
    refused = [rec for rec in records if rec["status"] == 407]
    assert refused and all(rec["code"] == "tmg-12209" for rec in refused)
    text = proxy.log.read_text()
    assert PASSWORD not in text and "bob-Pw1" not in text and "Ym9i" not in text  # base64 of "bob"


def test_ntlm_with_curl_and_requests_ntlm(tmp_path: Path, pki: Pki, start_proxy, users: Path) -> None:
    proxy = start_proxy("--auth", "ntlm", "--users", str(users))
    with python_origin(tmp_path, pki.server) as port:
        url = f"https://{ORIGIN_HOST}:{port}/ntlm"
        ok = curl(pki, proxy, url, "--cacert", str(proxy.ca), "--proxy-ntlm", "--proxy-user",
                  f"CORP\\alice:{PASSWORD}")
        assert status_of(ok) == 200, ok.stderr
        bad = curl(pki, proxy, url, "--cacert", str(proxy.ca), "--proxy-ntlm", "--proxy-user", "CORP\\alice:wrong")
        assert "407" in bad.stderr
        plain = curl(pki, proxy, f"http://127.0.0.1:{proxy.port}/", "--proxy-ntlm", "--proxy-user", "bob:bob-Pw1")
        assert status_of(plain) != 407
    records = proxy.records(expect=3)
    assert any(rec["user"] == "CORP\\alice" and rec["status"] == 200 for rec in records)
    assert any(rec["status"] == 407 and rec["code"] == "ntlm-logon-failure" for rec in records)


def test_requests_ntlm_plain_http(tmp_path: Path, pki: Pki, start_proxy, users: Path) -> None:
    """requests-ntlm answers a 407 only through HttpNtlmAuth's proxy support; plain HTTP through the proxy."""
    requests_ntlm = pytest.importorskip("requests_ntlm")
    import http.server
    import threading

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)  # port 0: no race with other tests
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proxy = start_proxy("--auth", "ntlm", "--users", str(users))
        session = requests.Session()
        session.trust_env = False
        session.proxies = {"http": proxy.url}
        session.auth = requests_ntlm.HttpNtlmAuth("bob", "bob-Pw1")
        r = session.get(f"http://127.0.0.1:{port}/", timeout=20)
        assert r.status_code == 200 and r.text == "hello\n", r.status_code
        assert any(rec["user"] == "bob" and rec["status"] == 200 for rec in proxy.records(expect=1))
    finally:
        server.shutdown()
        server.server_close()


def test_negotiate_kerberos_with_curl(tmp_path: Path, pki: Pki, start_proxy, users: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if not kdc.heimdal_available():
        pytest.fail("Heimdal KDC missing: scripts/setup.sh --dev installs heimdal-kdc")
    realm = kdc.Realm.create(tmp_path / "realm")
    realm.start()
    try:
        env = {**pki.client_env(), **realm.env()}
        got = subprocess.run(["kinit", "--password-file=STDIN", "alice@EXAMPLE.TEST"], input="alice-Pw1\n",
                             capture_output=True, text=True, env=env, timeout=30)
        assert got.returncode == 0, got.stderr
        monkeypatch.setenv("KRB5_CONFIG", str(realm.conf))  # the proxy's acceptor reads the realm's krb5.conf
        proxy = start_proxy("--auth", "negotiate,basic", "--users", str(users),
                            "--keytab", str(realm.keytab("proxy")))
        with python_origin(tmp_path, pki.server) as port:
            argv = ["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", "--noproxy", "",
                    "--proxy", f"http://{kdc.host('proxy')}:{proxy.port}", "--proxy-negotiate", "--proxy-user", ":",
                    "--resolve", f"{kdc.host('proxy')}:{proxy.port}:127.0.0.1",
                    "--resolve", f"{ORIGIN_HOST}:{port}:127.0.0.1",
                    "--cacert", str(proxy.ca), f"https://{ORIGIN_HOST}:{port}/krb"]
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
            assert done.stdout.endswith("\n200"), done.stderr
        records = proxy.records(expect=1)
        assert any(rec["user"] == "EXAMPLE.TEST\\alice" and rec["status"] == 200 for rec in records), records
    finally:
        realm.stop()


RULES = """
listen = "127.0.0.1:{port}"
auth = ["basic"]
users = "{users}"
exception_source = ["127.0.0.3"]

[[rule]]
name = "Block example.org"
action = "deny"
destination = ["*.blocked.test", "blocked.test"]

[[rule]]
name = "DirSync server anonymous"
action = "allow"
source = ["127.0.0.2"]
authenticate = true

[[rule]]
name = "Staff"
action = "allow"
source = ["127.0.0.1", "127.0.0.3"]
authenticate = true

[[rule]]
name = "Deny other sources"
action = "deny"
"""


def test_rules_deny_by_destination_and_source_and_exempt_source(tmp_path: Path, pki: Pki, start_proxy,
                                                                 users: Path) -> None:
    from tests.support.procs import free_port

    port = free_port()
    cfg = write(tmp_path, RULES.format(port=port, users=users).replace(
        'source = ["127.0.0.2"]', 'source = ["127.0.0.3"]'))
    proxy = start_proxy("--config", str(cfg))
    with python_origin(tmp_path, pki.server) as origin:
        url = f"https://{ORIGIN_HOST}:{origin}/"
        # a destination denied by name, even with good credentials: the page names the rule
        blocked = curl(pki, proxy, "http://www.blocked.test/", "--proxy-user", f"alice:{PASSWORD}")
        assert status_of(blocked) == 403 and "Block example.org" in blocked.stdout
        # a DirSync-like client (127.0.0.3, an exception by source) passes without any 407
        dirsync = curl(pki, proxy, url, "--interface", "127.0.0.3", "--cacert", str(pki.ca.cert))
        assert status_of(dirsync) == 200, dirsync.stderr
        # the same request from another source must authenticate
        anon = curl(pki, proxy, url, "--cacert", str(proxy.ca))
        assert "407" in anon.stderr
        # a source no rule allows: the last rule denies and is named
        other = curl(pki, proxy, "http://www.example.test/", "--interface", "127.0.0.4",
                     "--proxy-user", f"alice:{PASSWORD}")
        assert status_of(other) == 403 and "Deny other sources" in other.stdout
    records = proxy.records(expect=4)
    denied = [r for r in records if r["code"] == "forward-rule-denied"]
    assert {r["rule"] for r in denied} == {"Block example.org", "Deny other sources"}
    assert all(r["tmg_status"] == 12202 and r["status"] == 403 for r in denied)
    tunnel = [r for r in records if r["action"] == "tunnel"]
    assert tunnel and tunnel[0]["client"].startswith("127.0.0.3:") and tunnel[0]["user"] is None
    assert "DirSync server anonymous" in str(tunnel[0]["rule"])


def test_no_rules_allows_loopback_only_and_guard(tmp_path: Path, users: Path) -> None:
    done = subprocess.run([BRIDGEHEAD, "forward", "--check", "--listen", "0.0.0.0:3128", "--state-dir",
                           str(tmp_path / "s")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "open proxy" in done.stderr
    assert not (tmp_path / "s").exists()
    cfg = write(tmp_path, '[forward]\nlisten = "0.0.0.0:3128"\nopen_proxy = true\n')
    done = subprocess.run([BRIDGEHEAD, "forward", "--check", "--config", str(cfg)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0 and "would listen on 0.0.0.0:3128" in done.stdout, done.stderr
    cfg = write(tmp_path, f'[forward]\nlisten = "0.0.0.0:3128"\nauth = ["basic"]\nusers = "{users}"\n'
                '[[rule]]\nname = "Staff"\naction = "allow"\nsource = ["10.0.0.0/8"]\nauthenticate = true\n')
    done = subprocess.run([BRIDGEHEAD, "forward", "--check", "--config", str(cfg)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0 and "rule 1 'Staff': allow" in done.stdout, done.stderr
    cfg = write(tmp_path, '[[rule]]\nname = "x"\naction = "allow"\nauthenticate = true\n')
    done = subprocess.run([BRIDGEHEAD, "forward", "--check", "--config", str(cfg)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2 and "requires authentication but auth names no scheme" in done.stderr


def test_no_rule_denies_non_loopback_source(tmp_path: Path, pki: Pki, start_proxy) -> None:
    """127.0.0.0/8 is loopback: the 'no rule' default allows it (and only it)."""
    proxy = start_proxy()
    done = curl(pki, proxy, f"http://127.0.0.1:{proxy.port}/", "--interface", "127.0.0.5")
    assert status_of(done) != 403


GROUPS = """
[forward]
listen = "127.0.0.1:{port}"
auth = ["basic", "ntlm"]
users = "{users}"

[[rule]]
name = "Sales to the CRM"
action = "allow"
groups = ["sales"]

[[rule]]
name = "Everyone else denied"
action = "deny"
authenticate = true
"""


def add_member(path: Path, name: str, *args: str, password: str | None = PASSWORD) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BRIDGEHEAD, "users", "add", str(path), name, *args],
                          input=None if password is None else password + "\n",
                          capture_output=True, text=True, timeout=60)


def test_groups_in_rules_basic_and_ntlm(tmp_path: Path, pki: Pki, start_proxy) -> None:
    """``[[rule]] groups``: a member (Basic, NTLM by user name) passes; a user outside gets the page
    naming the rule that decided; the users file keeps the groups beside the hash."""
    from tests.support.procs import free_port

    path = tmp_path / "users.txt"
    done = add_member(path, "CORP\\alice", "--group", "sales", "--group", "vpn")
    assert done.returncode == 0 and "groups: sales, vpn" in done.stdout, done.stderr
    assert add_member(path, "bob", password="bob-Pw1").returncode == 0
    # a password change keeps the groups; the hash stays beside them on one line
    assert add_member(path, "CORP\\alice").returncode == 0
    line = next(ln for ln in path.read_text().splitlines() if ln.startswith("CORP\\alice:"))
    assert line.endswith(":sales,vpn") and line.count(":") == 3 and PASSWORD not in line
    port = free_port()
    proxy = start_proxy("--config", str(write(tmp_path, GROUPS.format(port=port, users=path))))
    with python_origin(tmp_path, pki.server) as origin:
        url = f"https://{ORIGIN_HOST}:{origin}/crm"
        ok = curl(pki, proxy, url, "--cacert", str(proxy.ca), "--proxy-user", f"alice:{PASSWORD}")
        assert status_of(ok) == 200, ok.stderr
        ntlm = curl(pki, proxy, url, "--cacert", str(proxy.ca), "--proxy-ntlm", "--proxy-user",
                    f"CORP\\alice:{PASSWORD}")
        assert status_of(ntlm) == 200, ntlm.stderr
        outside = curl(pki, proxy, "http://crm.example.test/", "--proxy-user", "bob:bob-Pw1")
        assert status_of(outside) == 403 and "Everyone else denied" in outside.stdout
        outside_ntlm = curl(pki, proxy, "http://crm.example.test/", "--proxy-ntlm", "--proxy-user", "bob:bob-Pw1")
        assert status_of(outside_ntlm) == 403 and "Everyone else denied" in outside_ntlm.stdout
    records = proxy.records(expect=4)
    allowed = [r for r in records if r["status"] == 200]
    assert {r["user"] for r in allowed} == {"CORP\\alice"} and len(allowed) == 2
    assert all("Sales to the CRM" in str(r["rule"]) for r in allowed)
    denied = [r for r in records if r["code"] == "forward-rule-denied"]
    assert [r["user"] for r in denied] == ["bob", "bob"] and all(r["rule"] == "Everyone else denied" for r in denied)


def test_groups_for_negotiate_users_and_config_errors(tmp_path: Path, pki: Pki, start_proxy,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A Kerberos user has no password in the users file: a membership-only entry
    (``--no-password``) gives ``alice@EXAMPLE.TEST`` her group; a group nobody is in is refused."""
    from tests.support.procs import free_port

    path = tmp_path / "users.txt"
    assert add_member(path, "bob", password="bob-Pw1").returncode == 0
    refused = add_member(path, "alice@EXAMPLE.TEST", "--no-password", password=None)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--group" in refused.stderr
    done = add_member(path, "alice@EXAMPLE.TEST", "--no-password", "--group", "sales", password=None)
    assert done.returncode == 0, done.stderr
    assert "alice@EXAMPLE.TEST:::sales" in path.read_text().splitlines()
    # a membership-only entry never verifies a password (Basic with an empty one is refused)
    typo = write(tmp_path, GROUPS.format(port=3128, users=path).replace('["sales"]', '["saels"]'))
    check = subprocess.run([BRIDGEHEAD, "forward", "--check", "--config", str(typo)], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 2 and check.stderr.count("\n") == 1 and "group 'saels'" in check.stderr
    if not kdc.heimdal_available():
        pytest.fail("Heimdal KDC missing: scripts/setup.sh --dev installs heimdal-kdc")
    realm = kdc.Realm.create(tmp_path / "realm")
    realm.start()
    try:
        env = {**pki.client_env(), **realm.env()}
        got = subprocess.run(["kinit", "--password-file=STDIN", "alice@EXAMPLE.TEST"], input="alice-Pw1\n",
                             capture_output=True, text=True, env=env, timeout=30)
        assert got.returncode == 0, got.stderr
        monkeypatch.setenv("KRB5_CONFIG", str(realm.conf))
        port = free_port()
        cfg = GROUPS.format(port=port, users=path).replace('["basic", "ntlm"]', '["negotiate", "basic"]')
        cfg = cfg.replace("[forward]\n", f'[forward]\nkeytab = "{realm.keytab("proxy")}"\n')
        proxy = start_proxy("--config", str(write(tmp_path, cfg)))
        with python_origin(tmp_path, pki.server) as origin:
            argv = ["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", "--noproxy", "",
                    "--proxy", f"http://{kdc.host('proxy')}:{proxy.port}", "--proxy-negotiate", "--proxy-user", ":",
                    "--resolve", f"{kdc.host('proxy')}:{proxy.port}:127.0.0.1",
                    "--resolve", f"{ORIGIN_HOST}:{origin}:127.0.0.1",
                    "--cacert", str(proxy.ca), f"https://{ORIGIN_HOST}:{origin}/krb"]
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
            assert done.stdout.endswith("\n200"), done.stderr
            empty = curl(pki, proxy, "http://crm.example.test/", "--proxy-user", "alice@EXAMPLE.TEST:")
            assert status_of(empty) == 407
            bob = curl(pki, proxy, "http://crm.example.test/", "--proxy-user", "bob:bob-Pw1")
            assert status_of(bob) == 403 and "Everyone else denied" in bob.stdout
        records = proxy.records(expect=3)
        assert any(r["user"] == "EXAMPLE.TEST\\alice" and r["status"] == 200 and "Sales to the CRM" in str(r["rule"])
                   for r in records), records
    finally:
        realm.stop()
