"""Exchange OAuth over real HTTPS on loopback: ``bridgehead backend --auth bearer`` as the server,
tokens minted by ``bridgehead oauth token``, requests from ``requests`` (and raw sockets where
HTTP/1.1 libraries cannot omit Host). Every row of seed 003's table that reaches the server,
and the JWT attack set, asserted with Exchange's exact header texts."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from bridgehead.core.oauth.diagnostics import parse_challenge
from tests.core.oauth.conftest import make_signer
from tests.support.pki import TestCA
from tests.support.procs import free_port, running

BH = [sys.executable, "-m", "bridgehead"]
REALM = "contoso.test"
ACS = "00000001-0000-0000-c000-000000000000"
FOREIGN_TENANT = "f31f3647-5d87-4b69-a0b6-73f62aeab14c"
EXCHANGE = "00000002-0000-0ff1-ce00-000000000000"
CHALLENGE = (
    f'Bearer client_id="{EXCHANGE}", trusted_issuers="{ACS}@{REALM},{EXCHANGE}@{REALM}", '
    'token_types="app_asserted_user_v1 service_asserted_app_v1", '
    'authorization_uri="https://login.windows.net/common/oauth2/authorize"'
)


def bh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BH, *args], capture_output=True, text=True, check=check, timeout=60)


def write_signer(directory: Path, name: str):
    signer = make_signer(name)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    cert.write_bytes(signer.cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        signer.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    os.chmod(key, 0o600)
    return cert, key


class Lab:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"
        self.ca = TestCA.create(root / "pki")
        self.server = self.ca.issue(
            "owa", dns=["owa.example.test", "hybrid.example.test", "localhost"], ips=["127.0.0.1"]
        )
        self.acs_cert, self.acs_key = write_signer(root, "acs")
        self.foreign_cert, self.foreign_key = write_signer(root, "foreign")

    def token(self, *args: str) -> str:
        return bh("oauth", "token", "--state-dir", str(self.state), "--realm", REALM, *args).stdout.strip()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("oauth"))
    bh("authcert", "new", "--state-dir", str(lab.state))
    bh(
        "oauth",
        "trust",
        "add-issuer",
        "--state-dir",
        str(lab.state),
        "--name",
        "EvoSts",
        "--issuer",
        f"{ACS}@{REALM}",
        "--cert",
        str(lab.acs_cert),
    )
    https, http = free_port(), free_port()
    common = [
        "backend",
        "--auth",
        "bearer",
        "--state-dir",
        str(lab.state),
        "--realm",
        REALM,
        "--freb-dir",
        str(lab.root / "freb"),
    ]
    with (
        running(
            [
                *BH,
                *common,
                "--listen",
                f"127.0.0.1:{https}",
                "--cert",
                str(lab.server.cert),
                "--key",
                str(lab.server.key),
            ],
            port=https,
            log=lab.root / "https.log",
        ),
        running([*BH, *common, "--listen", f"127.0.0.1:{http}"], port=http, log=lab.root / "http.log"),
    ):
        lab.https = f"https://127.0.0.1:{https}"
        lab.http = f"http://127.0.0.1:{http}"
        lab.port = https
        yield lab


def post(lab: Lab, token: str | None, host: str = "owa.example.test", base: str | None = None):
    headers = {"Host": host, "User-Agent": "AMProbe/OAUTH/Exchange", "Content-Type": "text/xml"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(
        f"{base or lab.https}/EWS/Exchange.asmx", data=b"<soap/>", headers=headers, verify=str(lab.ca.cert), timeout=15
    )


def assert_refused(resp, number: int, category: str) -> str:
    assert resp.status_code == 401, resp.text
    assert resp.headers["WWW-Authenticate"] == CHALLENGE + ', error="invalid_token"'
    diag = resp.headers["x-ms-diagnostics"]
    assert diag.startswith(f'{number};reason="') and diag.endswith(f';error_category="{category}"')
    return diag


def test_done_when_owa_works_hybrid_fails_exactly(lab):
    token = lab.token("--host", "owa.example.test")
    ok = post(lab, token)
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"] == "user1@example.test" and ok.json()["scheme"] == "Bearer"
    bad = post(lab, token, host="hybrid.example.test")
    assert bad.status_code == 401
    assert bad.headers["x-ms-diagnostics"] == (
        '2000003;reason="The hostname component of the audience claim value is invalid. '
        "Expected 'hybrid.example.test'. Actual 'owa.example.test'.\";error_category=\"invalid_resource\""
    )
    assert bad.headers["WWW-Authenticate"] == CHALLENGE + ', error="invalid_token"'


def test_anonymous_request_learns_challenge(lab):
    resp = post(lab, None)
    assert resp.status_code == 401 and "x-ms-diagnostics" not in resp.headers
    assert resp.headers["WWW-Authenticate"] == CHALLENGE
    params = parse_challenge(resp.headers["WWW-Authenticate"])
    assert params["client_id"] == EXCHANGE and f"{ACS}@{REALM}" in params["trusted_issuers"]


def test_seed_row_foreign_tenant_2000009(lab):
    token = lab.token(
        "--host",
        "owa.example.test",
        "--cert",
        str(lab.foreign_cert),
        "--key",
        str(lab.foreign_key),
        "--issuer",
        f"{ACS}@{FOREIGN_TENANT}",
    )
    diag = assert_refused(post(lab, token), 2000009, "invalid_issuer")
    assert diag == (
        f"2000009;reason=\"The issuer of the token is unknown. Issuer was '{ACS}@{FOREIGN_TENANT}'.\";"
        'error_category="invalid_issuer"'
    )


def test_acs_issued_token_accepted(lab):
    token = lab.token(
        "--host",
        "owa.example.test",
        "--cert",
        str(lab.acs_cert),
        "--key",
        str(lab.acs_key),
        "--actor-id",
        EXCHANGE,
        "--issuer",
        f"{ACS}@{REALM}",
    )
    assert post(lab, token).status_code == 200


def raw_request_without_host(lab: Lab, token: str) -> tuple[int, dict[str, str]]:
    """HTTP/1.0 without Host (HTTP/1.1 requires it, RFC 9112 §3.2): what the seed's 'Kein Hostheader' did."""
    ctx = ssl.create_default_context(cafile=str(lab.ca.cert))
    with (
        socket.create_connection(("127.0.0.1", lab.port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="owa.example.test") as tls,
    ):
        tls.sendall(
            f"POST /EWS/Exchange.asmx HTTP/1.0\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n".encode()
        )
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), headers


def test_seed_row_no_host_header(lab):
    status, headers = raw_request_without_host(lab, lab.token("--host", "https://owa.example.test"))
    assert status == 401
    assert headers["x-ms-diagnostics"] == (
        "2000003;reason=\"The hostname component of the audience claim value 'https://owa.example.test' is "
        'invalid";error_category="invalid_resource"'
    )


def test_ssl_offloading_https_audience_over_http(lab):
    token = lab.token("--host", "https://owa.example.test")
    assert post(lab, token).status_code == 200
    diag = assert_refused(post(lab, token, base=lab.http), 2000003, "invalid_resource")
    assert "Expected 'http://owa.example.test'. Actual 'https://owa.example.test'." in diag


def test_http_audience_over_https(lab):
    assert_refused(post(lab, lab.token("--host", "http://owa.example.test")), 2000003, "invalid_resource")


@pytest.mark.parametrize(
    ("args", "number", "category", "text"),
    [
        (["--alg", "none"], 2000000, "invalid_signature", "algorithm 'none' is not accepted"),
        (["--alg", "HS256"], 2000000, "invalid_signature", "algorithm 'HS256' is not accepted"),
        (["--unknown-x5t"], 2000000, "invalid_signature", "thumbprint (x5t) 'AAAAAAAAAAAAAAAAAAAAAAAAAAA'"),
        (["--bad-signature"], 2000000, "invalid_signature", "The token has an invalid signature."),
        (["--expired"], 2000002, "token_expired", "The token has expired."),
        (["--not-yet-valid"], 2000001, "invalid_token", "The token is not yet valid."),
        (["--outer-issuer", f"evil@{REALM}"], 2000001, "invalid_token", "does not match the nameid"),
        (["--no-delegation"], 2000006, "invalid_client", "not trusted for delegation"),
    ],
    ids=[
        "alg-none",
        "hs256-public-key",
        "unknown-x5t",
        "bad-signature",
        "expired",
        "not-yet-valid",
        "outer-iss",
        "no-delegation",
    ],
)
def test_attack_set(lab, args, number, category, text):
    diag = assert_refused(post(lab, lab.token("--host", "owa.example.test", *args)), number, category)
    assert text in diag


def test_logs_carry_summary_never_token(lab):
    token = lab.token("--host", "owa.example.test")
    post(lab, token, host="hybrid.example.test")
    traces = "".join(p.read_text() for p in (lab.root / "freb").glob("*.xml"))
    assert "Bearer app_asserted_user_v1 user=user1@example.test" in traces
    for part in token.split("."):
        if len(part) > 20:
            assert part not in traces
    actor_sig = token.split(".")[1]
    assert actor_sig not in traces


# ---- the probe (Test-OAuthConnectivity) against the same backend and real failing peers -----------
def probe(lab: Lab, url: str | None = None, *args: str, state: Path | None = None) -> tuple[int, dict]:
    import json

    proc = bh(
        "oauth",
        "probe",
        url or f"https://owa.example.test:{lab.port}/",
        "--connect",
        "127.0.0.1",
        "--cafile",
        str(lab.ca.cert),
        "--state-dir",
        str(state or lab.state),
        "--json",
        "--timeout",
        "5",
        *args,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def failed_step(report: dict) -> dict:
    step = next(s for s in report["steps"] if not s["ok"])
    assert step["cause"] and step["fix"]
    return step


def test_probe_ok(lab):
    rc, report = probe(lab, None, "--mailbox", "user1@example.test")
    assert rc == 0 and report["ok"] and report["status"] == 200
    assert [s["step"] for s in report["steps"]] == [
        "mailbox",
        "token-certificate",
        "dns",
        "tcp",
        "tls",
        "anonymous",
        "ews",
    ]
    assert report["challenge"]["client_id"] == EXCHANGE


@pytest.mark.parametrize(
    ("args", "code", "number"),
    [
        (["--audience-host", "hybrid.example.test"], "oauth-audience-host-mismatch", 2000003),
        (["--no-host-header"], "oauth-host-header-missing", 2000003),
        (["--issuer", f"{ACS}@{FOREIGN_TENANT}", "FOREIGN"], "oauth-unknown-issuer", 2000009),
    ],
    ids=["audience-host", "no-host", "foreign-tenant"],
)
def test_probe_maps_server_diagnostics(lab, args, code, number):
    if args[-1] == "FOREIGN":
        args = [*args[:-1], "--token-cert", str(lab.foreign_cert), "--token-key", str(lab.foreign_key)]
    rc, report = probe(lab, None, *args)
    assert rc == 1 and report["failure"] == code and report["status"] == 401
    assert report["diagnostics"].startswith(f"{number};")
    step = failed_step(report)
    assert step["step"] == "ews" and "(401) Unauthorized" in step["detail"]


def test_probe_name_not_resolved(lab):
    rc, report = probe(lab, "https://hybrid2.example.invalid/", "--connect", "hybrid2.example.invalid")
    assert rc == 1 and report["failure"] == "oauth-name-not-resolved"
    assert "The remote name could not be resolved: 'hybrid2.example.invalid'" in failed_step(report)["detail"]


def test_probe_mailbox_not_found_before_connecting(lab):
    rc, report = probe(lab, None, "--mailbox", "noexouser")
    assert rc == 1 and report["failure"] == "oauth-mailbox-not-found"
    assert [s["step"] for s in report["steps"]] == ["mailbox"]


def test_probe_auth_cert_missing_and_expired(lab, tmp_path):
    rc, report = probe(lab, None, "--token-cert", "00" * 20)
    assert rc == 1 and report["failure"] == "oauth-auth-cert-missing"
    old = tmp_path / "old"
    bh("authcert", "new", "--state-dir", str(old), "--days", "30", "--now", "2020-01-01")
    rc, report = probe(lab, None, state=old)
    assert rc == 1 and report["failure"] == "oauth-auth-cert-expired"


def test_probe_404_not_ews(lab, tmp_path):
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; daemon off;
events {{}}
http {{ access_log off; client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};
  fastcgi_temp_path {tmp_path}; uwsgi_temp_path {tmp_path}; scgi_temp_path {tmp_path};
  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {lab.server.cert}; ssl_certificate_key {lab.server.key};
    location / {{ return 404; }} }} }}
""")
    with running(["nginx", "-p", str(tmp_path), "-c", str(conf)], port=port, log=tmp_path / "nginx.out"):
        rc, report = probe(lab, f"https://owa.example.test:{port}/")
    assert rc == 1 and report["failure"] == "oauth-endpoint-not-ews"
    assert "(404) Not Found" in failed_step(report)["detail"]


def test_probe_tls_mismatch_connection_reset(lab, tmp_path):
    port = free_port()
    argv = [
        "openssl",
        "s_server",
        "-accept",
        f"127.0.0.1:{port}",
        "-tls1_3",
        "-cert",
        str(lab.server.cert),
        "-key",
        str(lab.server.key),
        "-naccept",
        "5",
        "-quiet",
    ]
    with running(argv, port=port, log=tmp_path / "s_server.log"):
        rc, report = probe(lab, f"https://owa.example.test:{port}/", "--tls-max", "1.2")
    assert rc == 1 and report["failure"] == "tls-alert-70"  # protocol_version, as the classify step names it
    assert "The underlying connection was closed" in failed_step(report)["detail"]


def test_probe_tcp_reset_mid_request(lab):
    """A peer that accepts TCP and resets at once (a firewall/IPS dropping the session)."""
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def serve() -> None:
        for _ in range(3):
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        rc, report = probe(lab, f"https://owa.example.test:{port}/")
    finally:
        srv.close()
    assert rc == 1 and report["failure"] == "oauth-connection-reset"


def test_probe_command_with_oauth_flag(lab):
    """``bridgehead probe URL --oauth`` runs the same OAuth probe (human output names cause and fix)."""
    proc = bh(
        "probe",
        f"https://owa.example.test:{lab.port}/",
        "--oauth",
        "--connect",
        "127.0.0.1",
        "--ca",
        str(lab.ca.cert),
        "--state-dir",
        str(lab.state),
        "--audience-host",
        "hybrid.example.test",
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "oauth-audience-host-mismatch" in proc.stdout and "fix:" in proc.stdout
    assert "2000003;reason=" in proc.stdout and "Actual 'hybrid.example.test'" in proc.stdout.replace("\n", "")
