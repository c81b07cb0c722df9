"""Web chaining through a real squid as the parent proxy (issue 13 item 3).

Plain HTTP goes to squid in absolute-form; tunnels, the inspection's upstream leg and the
client-certificate splice (detection attempt + a fresh CONNECT for the replayed ClientHello)
go through CONNECT. squid's own access log proves each request passed through it. The parent's
refusals (407, 403, 503, unreachable) are named with registry codes, and its password never
appears in bridgehead's log or output.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, Pki, curl, nginx_origin, status_of
from tests.support.procs import free_port, running
from tests.support.squid import Squid, squid_parent

PASSWORD = "Chain-s3cret-9"


@pytest.fixture(scope="module")
def squid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Squid]:
    with squid_parent(tmp_path_factory.mktemp("squid")) as parent:
        yield parent


@pytest.fixture(scope="module")
def http_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    d = tmp_path_factory.mktemp("www")
    (d / "hello.txt").write_text("hello through the parent\n")
    port = free_port()
    with running([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(d), str(port)],
                 port=port, log=d.parent / f"http-{port}.log"):
        yield port


def _connects(squid: Squid, port: int, expect: int = 1, timeout: float = 5.0) -> list[str]:
    """squid logs a CONNECT when the tunnel ends: wait (bounded) for ``expect`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in squid.access_lines(timeout=0) if f"CONNECT {ORIGIN_HOST}:{port}" in line]
        if len(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_plain_http_goes_to_the_parent_in_absolute_form(squid: Squid, http_origin: int, pki: Pki,
                                                          start_proxy) -> None:
    proxy = start_proxy("--parent", squid.url)
    url = f"http://{ORIGIN_HOST}:{http_origin}/hello.txt"
    result = curl(pki, proxy, url)
    assert status_of(result) == 200, result.stderr
    assert "hello through the parent" in result.stdout
    assert any(f"GET {url} " in line for line in squid.access_lines())
    (record,) = proxy.records()
    assert record["action"] == "inspect" and record["status"] == 200


def test_tunnel_goes_through_connect_to_the_parent(tmp_path: Path, squid: Squid, pki: Pki, start_proxy) -> None:
    proxy = start_proxy("--parent", squid.url, "--exception-destination", ORIGIN_HOST)
    with nginx_origin(tmp_path, pki, verify="off") as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", cacert=pki.ca.cert)
        assert status_of(result) == 200, result.stderr
        assert len(_connects(squid, port)) == 1
    (record,) = proxy.records()
    assert record["action"] == "tunnel"


def test_inspection_upstream_leg_goes_through_the_parent(tmp_path: Path, squid: Squid, pki: Pki,
                                                         start_proxy) -> None:
    proxy = start_proxy("--parent", squid.url)
    with nginx_origin(tmp_path, pki, verify="off") as port:
        # trusting only the bridgehead CA proves the client talked to the minted leaf
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/inspected", cacert=proxy.ca)
        assert status_of(result) == 200, result.stderr
        assert len(_connects(squid, port)) == 1
    (record,) = proxy.records()
    assert record["action"] == "inspect" and record["url"] == f"https://{ORIGIN_HOST}:{port}/inspected"


@pytest.mark.parametrize("tls", ["TLSv1.2", "TLSv1.3"])
def test_client_certificate_splice_succeeds_first_time_through_the_parent(tmp_path: Path, squid: Squid,
                                                                          pki: Pki, start_proxy, tls: str) -> None:
    proxy = start_proxy("--parent", squid.url)
    with nginx_origin(tmp_path, pki, verify="on", tls=tls) as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "--cert", str(pki.client.cert),
                      "--key", str(pki.client.key), cacert=pki.ca.cert)
        assert status_of(result) == 200, result.stderr
        assert "client=CN=dirsync01 verify=SUCCESS" in result.stdout
        # one CONNECT for the upstream-first detection, a fresh one for the replayed ClientHello
        assert len(_connects(squid, port, expect=2)) == 2
    (record,) = proxy.records()
    assert record["action"] == "tunnel" and "CertificateRequest" in str(record["reason"])


def test_chain_rule_direct_bypasses_the_parent(tmp_path: Path, squid: Squid, http_origin: int, pki: Pki,
                                               start_proxy) -> None:
    config = tmp_path / "forward.toml"
    config.write_text(f'parent = "{squid.url}"\n[[chain]]\ndestination = ["{ORIGIN_HOST}:{http_origin}"]\n'
                      'via = "direct"\n')
    proxy = start_proxy("--config", str(config))
    url = f"http://{ORIGIN_HOST}:{http_origin}/hello.txt?direct=1"
    assert status_of(curl(pki, proxy, url)) == 200
    assert not any("direct=1" in line for line in squid.access_lines(expect=10**6, timeout=0.5))


def test_parent_with_basic_credentials_from_a_password_file(tmp_path: Path, http_origin: int, pki: Pki,
                                                            start_proxy) -> None:
    with squid_parent(tmp_path, users={"chain": PASSWORD}) as parent, \
            nginx_origin(tmp_path, pki, verify="off") as port:
        secret = tmp_path / "parent.pass"
        secret.write_text(PASSWORD + "\n")
        config = tmp_path / "forward.toml"
        config.write_text(f'[[chain]]\ndestination = ["{ORIGIN_HOST}"]\nvia = "http://chain@127.0.0.1:{parent.port}"\n'
                          f'password_file = "{secret.name}"\n')
        proxy = start_proxy("--config", str(config))
        assert status_of(curl(pki, proxy, f"http://{ORIGIN_HOST}:{http_origin}/hello.txt")) == 200
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", cacert=proxy.ca)
        assert status_of(result) == 200, result.stderr
        lines = parent.access_lines(expect=3)
        assert any(" chain " in line and "CONNECT" in line for line in lines)
        assert any(" chain " in line and "GET http://" in line for line in lines)
    assert PASSWORD not in proxy.log.read_text()
    assert PASSWORD not in (proxy.log.parent / "proxy1.out").read_text()


def test_parent_407_is_named_not_passed_on(tmp_path: Path, http_origin: int, pki: Pki, start_proxy) -> None:
    with squid_parent(tmp_path, users={"chain": PASSWORD}) as parent, \
            nginx_origin(tmp_path, pki, verify="off") as port:
        secret = tmp_path / "wrong.pass"
        secret.write_text("not-the-password\n")
        proxy = start_proxy("--parent", f"http://chain@127.0.0.1:{parent.port}", "--parent-password-file",
                            str(secret))
        # inspected: the 502 page comes inside the client's TLS session, under the minted leaf
        inspected = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "-i", cacert=proxy.ca)
        plain = curl(pki, proxy, f"http://{ORIGIN_HOST}:{http_origin}/hello.txt", "-i")
    assert status_of(inspected) == 502 and "X-Bridgehead-Code: parent-proxy-auth-required" in inspected.stdout
    assert status_of(plain) == 502 and "X-Bridgehead-Code: parent-proxy-auth-required" in plain.stdout
    assert "Proxy-Authenticate" not in plain.stdout
    records = proxy.records(expect=2)
    assert [r["code"] for r in records] == ["parent-proxy-auth-required"] * 2
    assert "credentials configured for it were refused" in str(records[0]["reason"])
    assert "not-the-password" not in proxy.log.read_text()


def test_parent_403_and_503_are_named(tmp_path: Path, pki: Pki, start_proxy) -> None:
    closed = free_port()
    with squid_parent(tmp_path, deny=["denied.localhost"]) as parent:
        proxy = start_proxy("--parent", parent.url)
        r1 = curl(pki, proxy, "https://denied.localhost:443/", cacert=proxy.ca)
        r2 = curl(pki, proxy, f"https://{ORIGIN_HOST}:{closed}/", cacert=proxy.ca)
    assert status_of(r1) == 502 and status_of(r2) == 502
    denied, failed = proxy.records(expect=2)
    assert denied["code"] == "parent-proxy-denied" and denied["status"] == 502
    assert failed["code"] == "parent-proxy-bad-gateway" and "503" in str(failed["reason"])
    assert "ERR_CONNECT_FAIL" in str(failed["reason"])


def test_unreachable_parent_is_named(pki: Pki, start_proxy) -> None:
    proxy = start_proxy("--parent", f"http://127.0.0.1:{free_port()}")
    result = curl(pki, proxy, "http://localhost:9/", "-i")
    assert status_of(result) == 502 and "X-Bridgehead-Code: parent-proxy-unreachable" in result.stdout
    (record,) = proxy.records()
    assert record["code"] == "parent-proxy-unreachable"


@pytest.mark.parametrize("parent,message", [
    ("http://chain:pw@127.0.0.1:3128", "password does not go in the URL"),
    ("https://127.0.0.1:3128", "via must be"),
    ("http://127.0.0.1", "HOST:PORT"),
    ("http://chain@127.0.0.1:3128", "BRIDGEHEAD_PARENT_PASSWORD"),
])
def test_bad_parent_is_one_line_and_exit_2(tmp_path: Path, pki: Pki, parent: str, message: str) -> None:
    env = pki.client_env()
    env.pop("BRIDGEHEAD_PARENT_PASSWORD", None)
    result = subprocess.run([BRIDGEHEAD, "forward", "--listen", f"127.0.0.1:{free_port()}", "--state-dir",
                             str(tmp_path / "state"), "--parent", parent], capture_output=True, text=True,
                            env=env, timeout=30)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pw@" not in result.stderr
