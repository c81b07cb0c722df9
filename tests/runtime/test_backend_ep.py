"""The seed-002 table, measured: real backends (``bridgehead backend``) with EP none/allow/require,
reached directly, through HAProxy terminating TLS with ANOTHER certificate (``mode http``, re-encrypt),
and through HAProxy as a layer-4 passthrough (``mode tcp``). Clients: requests + requests-ntlm (sends
bindings), curl --ntlm (sends none), pyspnego with SPNEGO as an independent peer.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import subprocess
import sys
import time

import pytest
import requests
import requests_ntlm

from tests.support.pki import TestCA
from tests.support.procs import free_port, running

BH = [sys.executable, "-m", "bridgehead"]
SETTINGS = ("none", "allow", "require")
USER, PASSWORD = "CORP\\alice", "Passw0rd!"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy (Debian package) is not installed")
    d = tmp_path_factory.mktemp("ep")
    ca = TestCA.create(d / "pki")
    backend = ca.issue("backend", dns=["localhost", "mail.bridgehead.test"], ips=["127.0.0.1"])
    proxy = ca.issue("proxy", dns=["localhost", "mail.bridgehead.test"], ips=["127.0.0.1"])
    combined = d / "proxy-combined.pem"
    combined.write_bytes(proxy.cert.read_bytes() + proxy.key.read_bytes())
    combined.chmod(0o600)
    users = d / "users.txt"
    users.write_text(f"CORP:alice:{PASSWORD}\n")
    ports = {s: {"direct": free_port(), "l7": free_port(), "l4": free_port()} for s in SETTINGS}
    cfg = ["global", "  maxconn 200", "defaults", "  timeout connect 5s", "  timeout client 30s",
           "  timeout server 30s"]
    for s in SETTINGS:
        p = ports[s]
        cfg += [f"frontend l7_{s}", "  mode http", f"  bind 127.0.0.1:{p['l7']} ssl crt {combined}",
                f"  default_backend be7_{s}", f"backend be7_{s}", "  mode http",
                f"  server b 127.0.0.1:{p['direct']} ssl verify required ca-file {ca.cert} verifyhost localhost",
                f"frontend l4_{s}", "  mode tcp", f"  bind 127.0.0.1:{p['l4']}", f"  default_backend be4_{s}",
                f"backend be4_{s}", "  mode tcp", f"  server b 127.0.0.1:{p['direct']}"]
    (d / "haproxy.cfg").write_text("\n".join(cfg) + "\n")
    with contextlib.ExitStack() as stack:
        for s in SETTINGS:
            argv = [*BH, "backend", "--listen", f"127.0.0.1:{ports[s]['direct']}", "--cert", str(backend.cert),
                    "--key", str(backend.key), "--users", str(users), "--ep", s, "--auth", "negotiate,ntlm",
                    "--w3c-log", str(d / f"u_ex_{s}.log"), "--freb-dir", str(d / f"freb_{s}")]
            stack.enter_context(running(argv, port=ports[s]["direct"], log=d / f"backend_{s}.log"))
        stack.enter_context(running(["haproxy", "-db", "-f", str(d / "haproxy.cfg")],
                                    port=ports["require"]["l4"], log=d / "haproxy.log"))
        yield {"dir": d, "ca": ca, "backend": backend, "proxy": proxy, "ports": ports}


def _post(lab, setting: str, path: str):  # type: ignore[no-untyped-def]
    url = f"https://localhost:{lab['ports'][setting][path]}/EWS/mrsproxy.svc"
    with requests.Session() as s:
        return s.post(url, data=b"not an MRS payload", auth=requests_ntlm.HttpNtlmAuth(USER, PASSWORD),
                      verify=str(lab["ca"].cert), timeout=20)


@pytest.mark.parametrize("setting,expected", [("none", 400), ("allow", 401), ("require", 401)])
def test_seed_table_through_proxy_with_other_certificate(lab, setting: str, expected: int) -> None:  # type: ignore[no-untyped-def]
    assert _post(lab, setting, "l7").status_code == expected


@pytest.mark.parametrize("path", ["direct", "l4"])
@pytest.mark.parametrize("setting", SETTINGS)
def test_direct_and_passthrough_succeed(lab, setting: str, path: str) -> None:  # type: ignore[no-untyped-def]
    r = _post(lab, setting, path)
    assert r.status_code == 400  # authenticated, then the seed's "bad MRS payload"
    body = r.json()
    assert body["user"] == "CORP\\alice" and body["code"] == "mrs-authenticated-bad-request"
    assert r.headers["X-Bridgehead-Code"] == "mrs-authenticated-bad-request"  # the header every page carries
    assert body["binding"] == "value"
    assert body["binding_outcome"] == ("not-checked" if setting == "none" else "match")


def _freb_with(directory, text: str, timeout: float = 5.0) -> str:  # type: ignore[no-untyped-def]
    """The FREB traces of ``directory`` once one of them holds ``text`` (bounded wait; the backend writes the
    trace after the W3C line, after it has answered)."""
    deadline = time.monotonic() + timeout
    while True:
        trace = "".join(p.read_text() for p in sorted(directory.glob("*.xml")))
        if text in trace or time.monotonic() > deadline:
            return trace
        time.sleep(0.05)


def _log_with(path, text: str, timeout: float = 5.0) -> str:  # type: ignore[no-untyped-def]
    """The backend writes a W3C line after it has answered: wait (bounded) for the line."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        log = path.read_text() if path.exists() else ""
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def test_bad_binding_artifacts_w3c_and_freb(lab) -> None:  # type: ignore[no-untyped-def]
    _post(lab, "allow", "l7")
    log = _log_with(lab["dir"] / "u_ex_allow.log", " 401 1 3221226331 ")  # written after the answer
    assert "#Fields: date time s-ip cs-method cs-uri-stem" in log
    assert " POST /EWS/mrsproxy.svc " in log and " 401 1 3221226331 " in log
    trace = _freb_with(lab["dir"] / "freb_allow", "channel bindings were incorrect")  # written after the W3C line
    assert "<failedRequest" in trace and "GENERAL_REQUEST_HEADERS" in trace and "AUTH_REQUEST_AUTH_TYPE" in trace
    assert "Client's supplied SSPI channel bindings were incorrect. (0x80090346)" in trace
    assert "MODULE_SET_RESPONSE_ERROR_STATUS" in trace
    assert "TlRMTVNTUAAD" not in trace  # the AUTHENTICATE token itself never reaches the trace
    assert "binding=value" in trace



def test_logs_freb_decodes_the_backends_own_trace(lab) -> None:  # type: ignore[no-untyped-def]
    """``bridgehead logs freb`` on the FREB traces the backend wrote for a real NTLM logon through an
    inspecting proxy: the Authorization summary is decoded (user, workstation, binding), never the token."""
    import json

    before = len(list((lab["dir"] / "freb_allow").glob("*.xml")))
    _post(lab, "allow", "l7")
    for _ in range(100):  # bounded: the trace is written just after the answer
        files = sorted((lab["dir"] / "freb_allow").glob("*.xml"))
        if len(files) >= before + 3 and files[-1].read_text().rstrip().endswith("</failedRequest>"):
            break  # anonymous, challenge and the failure, the last one complete
        time.sleep(0.05)
    p = subprocess.run([sys.executable, "-m", "bridgehead", "logs", "freb", str(lab["dir"] / "freb_allow"),
                        "--url", "*/ews/mrsproxy.svc", "--status", "401", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    matches = json.loads(p.stdout)["matches"]
    shown = [m["authorization"] for m in matches if m.get("authorization")]
    assert shown, matches
    assert all("undecodable" not in a and "TlRMTVNTUAAD" not in a for a in shown), shown
    assert any("AUTHENTICATE" in a and "alice" in a for a in shown), shown
    assert [e["codes"] for m in matches for e in m["errors"]][-1] == ["ntlm-bad-bindings"]

def test_wrong_password_is_its_own_failure(lab) -> None:  # type: ignore[no-untyped-def]
    url = f"https://localhost:{lab['ports']['require']['direct']}/owa/"
    r = requests.get(url, auth=requests_ntlm.HttpNtlmAuth(USER, "wrong"), verify=str(lab["ca"].cert), timeout=20)
    assert r.status_code == 401 and r.headers["X-Bridgehead-Code"] == "ntlm-logon-failure"
    log = (lab["dir"] / "u_ex_require.log").read_text()
    assert " 401 1 2148074252 " in log  # SEC_E_LOGON_DENIED 0x8009030C, not the bindings status


def test_good_logon_logs_the_handshake_steps_only(lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A logon that succeeds writes IIS's NTLM steps (401 2 5, 401 1 2148074254, 200), no logon failure, and
    ``logs scan`` of that log finds nothing (the challenge step is not ntlm-logon-failure's 2148074252)."""
    from bridgehead.core.logscan import Filters
    from bridgehead.runtime import logfiles

    log_path = lab["dir"] / "u_ex_require.log"
    before = log_path.read_text() if log_path.exists() else ""
    url = f"https://localhost:{lab['ports']['require']['direct']}/owa/"
    r = requests.get(url, auth=requests_ntlm.HttpNtlmAuth(USER, PASSWORD), verify=str(lab["ca"].cert), timeout=20)
    assert r.status_code == 200
    new = ""
    for _ in range(100):  # bounded: the backend writes its W3C line just after the answer
        new = (log_path.read_text() if log_path.exists() else "")[len(before):]
        if " 200 0 0 " in new:
            break
        time.sleep(0.05)
    assert " 401 2 5 " in new and " 401 1 2148074254 " in new and " 2148074252 " not in new, new
    header = "".join(line for line in log_path.read_text().splitlines(keepends=True) if line.startswith("#"))
    body = "".join(line for line in new.splitlines(keepends=True) if not line.startswith("#"))
    (tmp_path / "u_ex_good.log").write_text(header + body)
    report = logfiles.scan([tmp_path / "u_ex_good.log"], Filters())
    assert "ntlm-logon-failure" not in report.findings.by_code, report.findings.by_code


@pytest.mark.parametrize("setting,expected", [("none", "200"), ("allow", "200"), ("require", "401")])
def test_curl_ntlm_sends_no_binding(lab, setting: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    url = f"https://localhost:{lab['ports'][setting]['direct']}/owa/"
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--ntlm", "-u",
                          f"{USER}:{PASSWORD}", "--cacert", str(lab["ca"].cert), url],
                         capture_output=True, text=True, timeout=30, check=False)
    assert out.stdout == expected


def test_pyspnego_negotiate_with_spnego_and_binding(lab) -> None:  # type: ignore[no-untyped-def]
    import http.client
    import ssl

    import spnego
    from spnego.channel_bindings import GssChannelBindings

    from bridgehead.core.channel_binding import application_data, tls_server_end_point

    ctx = ssl.create_default_context(cafile=str(lab["ca"].cert))
    conn = http.client.HTTPSConnection("localhost", lab["ports"]["require"]["direct"], context=ctx, timeout=20)
    conn.connect()
    der = conn.sock.getpeercert(binary_form=True)
    cb = GssChannelBindings(application_data=application_data(tls_server_end_point(der)))
    client = spnego.client(USER, PASSWORD, hostname="localhost", service="HTTP", protocol="negotiate",
                           channel_bindings=cb)
    token = client.step()
    assert token is not None and token[:1] == b"\x60"  # a real SPNEGO NegTokenInit
    for _ in range(3):
        auth = f"Negotiate {base64.b64encode(token).decode()}"
        conn.request("GET", "/EWS/Exchange.asmx", headers={"Authorization": auth})
        resp = conn.getresponse()
        body = resp.read()
        header = resp.headers.get("WWW-Authenticate", "")
        if resp.status != 401:
            break
        token = client.step(base64.b64decode(header.split(" ", 1)[1]))
    assert resp.status == 200, body
    client.step(base64.b64decode(header.split(" ", 1)[1]))  # final NegTokenResp with mechListMIC
    assert client.complete
    assert b'"binding_outcome":"match"' in body


def test_probe_names_each_setting_and_spots_the_proxy(lab) -> None:  # type: ignore[no-untyped-def]
    import json

    def probe(setting: str, path: str) -> dict:  # type: ignore[type-arg]
        url = f"https://localhost:{lab['ports'][setting][path]}/EWS/mrsproxy.svc"
        out = subprocess.run([*BH, "probe", url, "--ca", str(lab["ca"].cert), "--user", USER, "--password",
                              PASSWORD, "--json"], capture_output=True, text=True, timeout=90, check=False)
        report = json.loads(out.stdout)
        assert out.returncode == (1 if any(f["code"] for f in report["findings"]) else 0), out.stderr
        return report

    for setting in SETTINGS:
        ep = probe(setting, "direct")["extended_protection"]
        assert (ep["setting"], ep["path_changes_certificate"]) == (setting, False)
    for setting in ("allow", "require"):
        report = probe(setting, "l7")
        ep = report["extended_protection"]
        assert (ep["setting"], ep["path_changes_certificate"]) == (setting, True)
        assert "ntlm-ep-terminating-proxy" in [f["code"] for f in report["findings"]]
    assert probe("none", "l7")["extended_protection"]["setting"] == "none"


def test_decode_token_captured_from_requests_ntlm(lab) -> None:  # type: ignore[no-untyped-def]
    import json

    url = f"https://localhost:{lab['ports']['require']['direct']}/owa/"
    r = requests.get(url, auth=requests_ntlm.HttpNtlmAuth(USER, PASSWORD), verify=str(lab["ca"].cert), timeout=20)
    assert r.status_code == 200
    header = r.request.headers["Authorization"]  # the AUTHENTICATE_MESSAGE requests-ntlm sent
    out = subprocess.run([*BH, "decode", f"Authorization: {header}", "--cert", str(lab["backend"].cert), "--json"],
                         capture_output=True, text=True, timeout=30, check=True)
    ntlm = json.loads(out.stdout)["ntlm"]
    assert ntlm["message_type"] == "AUTHENTICATE_MESSAGE"
    assert (ntlm["user"], ntlm["domain"]) == ("alice", "CORP") and ntlm["workstation"]
    assert ntlm["target_spn"].lower() == "http/localhost" and ntlm["ntlm_version"] == "v2" and ntlm["mic_present"]
    assert ntlm["channel_binding"]["status"] == "value" and ntlm["channel_binding"]["matches"] is True
    human = subprocess.run([*BH, "decode", header, "--cert", f"localhost:{lab['ports']['require']['direct']}"],
                           capture_output=True, text=True, timeout=30, check=True).stdout
    assert "binding matches CN=backend" in human
    other = subprocess.run([*BH, "decode", header, "--cert", str(lab["proxy"].cert), "--json"],
                           capture_output=True, text=True, timeout=30, check=True).stdout
    assert json.loads(other)["ntlm"]["channel_binding"]["matches"] is False
