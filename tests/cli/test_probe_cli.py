"""``bridgehead probe``: every flag in every mode, against real servers on loopback.

openssl s_server (``-Verify 1 -verify_return_error``: a backend that requires a client certificate, the
ActiveSync case of seed 004, refusing in the handshake) and nginx (``ssl_verify_client on``: refusing
over HTTP with 400, as IIS answers 403.7), squid as the ``--proxy``. nginx logs what it received
(Host, protocol, TLS version, the client certificate's subject), so a flag that were parsed and
ignored would fail here. Flags that do not apply to a mode are refused with one line and exit 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridgehead.cli.probe_cmd import NTLM_ONLY, OAUTH_ONLY, TLS_ONLY, probe
from bridgehead.runtime.lab.origins import nginx_tls_conf
from tests.support.pki import TestCA
from tests.support.procs import free_port, running
from tests.support.squid import squid_parent

BH = [sys.executable, "-m", "bridgehead"]
HOST = "mail.example.test"  # not in DNS: --connect 127.0.0.1 takes the probe there
COMMON = {"--proxy", "--timeout", "--connect", "--host-header", "--no-host-header", "--json", "--oauth", "--help"}


def bh_probe(*args: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run([*BH, "probe", *args, "--json"], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, (json.loads(done.stdout) if done.stdout.strip() else {}), done.stderr


def codes(report: dict[str, Any]) -> list[str | None]:
    return [f["code"] for f in report["findings"]]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("probe-pki")
    ca, other = TestCA.create(d / "ca"), TestCA.create(d / "other", "Other CA")
    return {"dir": d, "ca": ca, "server": ca.issue("server", dns=["localhost", HOST]),
            "client": ca.issue("eas-device", client=True, server=False),
            "foreign": other.issue("foreign", client=True, server=False),
            "mismatch_key": other.issue("other-key", client=True, server=False).key}


@pytest.fixture(scope="module")
def nginx(pki: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One nginx: TLS with ``ssl_verify_client on`` and plain HTTP, both logging what they received."""
    d = tmp_path_factory.mktemp("probe-nginx")
    (d / "logs").mkdir()
    tls_port, http_port = free_port(), free_port()
    fmt = "log_format seen '$server_port|$http_host|$server_protocol|$ssl_protocol|$ssl_client_s_dn|$status';"
    conf = nginx_tls_conf(d, tls_port, [f"ssl_certificate {pki['server'].chain};",
                                        f"ssl_certificate_key {pki['server'].key};",
                                        f"ssl_client_certificate {pki['ca'].cert};", "ssl_verify_client on;",
                                        "ssl_protocols TLSv1.2 TLSv1.3;",
                                        f"access_log {d}/seen.log seen;"], "ok")
    conf = conf.replace("http {", "http {\n    " + fmt, 1)
    plain = (f"    server {{\n        listen 127.0.0.1:{http_port};\n        access_log {d}/seen.log seen;\n"
             f"        location / {{ return 200 \"ok\\n\"; }}\n    }}\n}}\n")
    conf = conf.rstrip().removesuffix("}") + plain
    (d / "nginx.conf").write_text(conf)
    with running(["nginx", "-p", str(d), "-c", str(d / "nginx.conf")], port=tls_port, log=d / "out.log"):
        yield {"tls": tls_port, "http": http_port, "log": d / "seen.log"}


def seen(nginx: dict[str, Any], port: int) -> list[str]:
    """nginx's log lines for ``port`` (written when each request ends, before the probe exits)."""
    lines = nginx["log"].read_text().splitlines() if nginx["log"].exists() else []
    return [line for line in lines if line.startswith(f"{port}|")]


# -- every flag is accounted for; the ones that do not apply are refused -----------------------------
def test_every_probe_flag_works_in_some_mode_or_is_refused() -> None:
    flags = {opt for param in probe.params for opt in param.opts if opt.startswith("--")}
    accounted = COMMON | set(OAUTH_ONLY) | set(NTLM_ONLY) | set(TLS_ONLY)
    assert flags - accounted == set(), "a probe flag nobody checks against the modes"
    help_text = subprocess.run([*BH, "probe", "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "Exit status: 0" in help_text and "2 bad input" in help_text


@pytest.mark.parametrize(("args", "words"), [
    (["https://localhost:1/", "--mailbox", "a@example.test"], "--mailbox does not apply without --oauth"),
    (["https://localhost:1/", "--token-cert", "x", "--realm", "r"], "--token-cert, --realm do not apply"),
    (["https://localhost:1/", "--state-dir", "s"], "--state-dir does not apply without --oauth"),
    (["https://localhost:1/", "--oauth", "--user", "CORP\\u", "--password", "p"], "do not apply with --oauth"),
    (["https://localhost:1/", "--oauth", "--method", "POST"], "--method does not apply with --oauth"),
    (["http://localhost:1/", "--tls-max", "1.2"], "--tls-max does not apply to an http:// URL"),
    (["http://localhost:1/", "--insecure"], "--insecure does not apply to an http:// URL"),
    (["https://localhost:1/", "--key", "k.pem"], "--key needs --cert"),
    (["https://localhost:1/", "--host-header", "a", "--no-host-header"], "exclude each other"),
    (["https://localhost:1/", "--user", "CORP\\u"], "--user needs --password"),
    (["https://localhost:1/", "--proxy", "socks5://p:1"], "--proxy must be http://host:port"),
])
def test_flags_that_do_not_apply_are_refused_in_one_line(args: list[str], words: str) -> None:
    done = subprocess.run([*BH, "probe", *args], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert done.returncode == 2 and done.stdout == "", done
    assert done.stderr.startswith("bridgehead: error: ") and words in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_key_that_cannot_be_loaded_is_its_registry_code(pki: dict[str, Any]) -> None:
    for key in (pki["mismatch_key"], pki["dir"] / "missing.key", pki["server"].cert):
        rc, _, err = bh_probe("https://localhost:1/", "--cert", str(pki["client"].cert), "--key", str(key))
        assert rc == 2 and err.startswith("bridgehead: error: client-cert-load-failed: ") and err.count("\n") == 1
    explained = subprocess.run([*BH, "explain", "client-cert-load-failed", "--json"], capture_output=True,
                               text=True, timeout=30)
    assert explained.returncode == 0 and json.loads(explained.stdout)["matches"][0]["code"] == "client-cert-load-failed"


# -- a backend that requires a client certificate (seed 004's ActiveSync virtual directory) ----------
@pytest.mark.parametrize(("version", "without"), [("-tls1_2", "tls-alert-40"), ("-tls1_3", "tls-alert-116")])
def test_s_server_requiring_a_client_certificate(pki: dict[str, Any], version: str, without: str) -> None:
    port = free_port()
    argv = ["openssl", "s_server", "-www", "-accept", f"127.0.0.1:{port}", "-cert", str(pki["server"].cert),
            "-key", str(pki["server"].key), "-Verify", "1", "-verify_return_error", "-CAfile", str(pki["ca"].cert),
            version]
    url, ca = f"https://localhost:{port}/Microsoft-Server-ActiveSync", str(pki["ca"].cert)
    with running(argv, port=port):
        rc, report, _ = bh_probe(url, "--ca", ca)
        assert rc == 1 and codes(report) == [without], report
        assert report["tls"]["client_certificate_requested"] is True
        rc, report, _ = bh_probe(url, "--ca", ca, "--cert", str(pki["client"].cert), "--key", str(pki["client"].key))
        assert rc == 0 and codes(report) == [None], report
        assert report["tls"]["client_certificate_presented"] is True and report["ok"] is True
        rc, report, _ = bh_probe(url, "--ca", ca, "--cert", str(pki["foreign"].cert), "--key",
                                 str(pki["foreign"].key))
        assert rc == 1 and codes(report) == ["tls-alert-48"], report  # unknown_ca: the server does not trust it


def test_nginx_verify_client_on_refuses_over_http(pki: dict[str, Any], nginx: dict[str, Any]) -> None:
    url, ca = f"https://localhost:{nginx['tls']}/", str(pki["ca"].cert)
    rc, report, _ = bh_probe(url, "--ca", ca)
    assert rc == 1 and codes(report) == ["edge-client-cert-missing"] and report["http"]["status"] == 400
    rc, report, _ = bh_probe(url, "--ca", ca, "--cert", str(pki["client"].cert), "--key", str(pki["client"].key))
    assert rc == 0 and report["http"]["status"] == 200, report
    assert seen(nginx, nginx["tls"])[-1].endswith("|CN=eas-device|200")


# -- --connect, --host-header, --no-host-header, --tls-max, --insecure on every connection -----------
def test_connect_host_header_and_tls_max_reach_the_server(pki: dict[str, Any], nginx: dict[str, Any]) -> None:
    port = nginx["tls"]
    client = ["--cert", str(pki["client"].cert), "--key", str(pki["client"].key)]
    rc, report, _ = bh_probe(f"https://{HOST}:{port}/", "--connect", "127.0.0.1", "--ca", str(pki["ca"].cert),
                             "--host-header", "owa.example.test", "--tls-max", "1.2", *client)
    assert rc == 0, report
    assert report["tls"]["protocol"] == "TLSv1.2" and report["tls"]["verified"] is True
    assert report["target"]["connect"] == f"127.0.0.1:{port}"
    assert seen(nginx, port)[-2:] == [f"{port}|owa.example.test|HTTP/1.1|TLSv1.2|CN=eas-device|200"] * 2
    rc, report, _ = bh_probe(f"https://{HOST}:{port}/", "--connect", "127.0.0.1", "--insecure", "--no-host-header",
                             *client)
    assert rc == 0 and report["tls"]["verified"] is None and report["http"]["host_sent"] is None, report
    assert seen(nginx, port)[-1] == f"{port}|-|HTTP/1.0|TLSv1.3|CN=eas-device|200"
    rc, report, _ = bh_probe(f"https://{HOST}:{port}/", "--connect", "127.0.0.1", *client)
    assert rc == 1 and codes(report)[0] == "upstream-cert-untrusted", report  # not our CA: the system store's


def test_unresolvable_and_closed_are_named(pki: dict[str, Any]) -> None:
    rc, report, _ = bh_probe(f"https://{HOST}:{free_port()}/")
    assert rc == 1 and codes(report) == ["upstream-dns-failed"]
    rc, report, _ = bh_probe(f"https://{HOST}:{free_port()}/", "--connect", "127.0.0.1")
    assert rc == 1 and codes(report) == ["upstream-unreachable"]


# -- --proxy for https and http, and the proxy's refusal ---------------------------------------------
def test_proxy_carries_every_connection(pki: dict[str, Any], nginx: dict[str, Any], tmp_path: Path) -> None:
    with squid_parent(tmp_path) as squid:
        rc, report, _ = bh_probe(f"https://localhost:{nginx['tls']}/", "--proxy", squid.url, "--ca",
                                 str(pki["ca"].cert), "--cert", str(pki["client"].cert), "--key",
                                 str(pki["client"].key))
        assert rc == 0 and report["target"]["proxy"] == f"127.0.0.1:{squid.port}", report
        rc, report, _ = bh_probe(f"http://localhost:{nginx['http']}/plain", "--proxy", squid.url,
                                 "--host-header", "plain.example.test")
        assert rc == 0 and report["http"]["status"] == 200, report
        assert seen(nginx, nginx["http"])[-1] == f"{nginx['http']}|plain.example.test|HTTP/1.1|-|-|200"
        lines = squid.access_lines(expect=4)
        assert sum(" CONNECT " in line for line in lines) >= 4, lines
    with squid_parent(tmp_path, users={"u": "p"}) as squid:
        rc, report, _ = bh_probe(f"https://localhost:{nginx['tls']}/", "--proxy", squid.url)
        assert rc == 1 and codes(report) == ["parent-proxy-auth-required"], report


def test_oauth_mode_honours_proxy_connect_and_client_certificate(pki: dict[str, Any], nginx: dict[str, Any],
                                                                  tmp_path: Path) -> None:
    """``--oauth``: DNS/TCP/TLS through the proxy to the --connect address, the client certificate presented;
    nginx is no EWS (200 to the anonymous POST), so the probe stops there with its code."""
    state = tmp_path / "state"
    made = subprocess.run([*BH, "authcert", "new", "--state-dir", str(state)], capture_output=True, text=True,
                          timeout=60)
    assert made.returncode == 0, made.stderr
    port = nginx["tls"]
    with squid_parent(tmp_path) as squid:
        done = subprocess.run([*BH, "probe", f"https://{HOST}:{port}/", "--oauth", "--state-dir", str(state),
                               "--proxy", squid.url, "--connect", "127.0.0.1", "--ca", str(pki["ca"].cert),
                               "--cert", str(pki["client"].cert), "--key", str(pki["client"].key), "--tls-max", "1.2",
                               "--json", "--timeout", "5"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        report = json.loads(done.stdout)
        steps = {s["step"]: s for s in report["steps"]}
        assert steps["tls"]["ok"] and steps["tls"]["detail"].startswith("TLSv1.2"), report
        assert "through the proxy" in steps["tcp"]["detail"]
        assert report["failure"] == "oauth-endpoint-not-ews"
        assert seen(nginx, port)[-1] == f"{port}|{HOST}:{port}|HTTP/1.1|TLSv1.2|CN=eas-device|200"
        assert any(" CONNECT 127.0.0.1:" in line for line in squid.access_lines(expect=1)), squid.access_lines()
