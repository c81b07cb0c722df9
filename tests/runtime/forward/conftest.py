"""Fixtures for the forward-proxy tests: a test PKI, real origins (nginx, Apache, Python ssl),
and `bridgehead forward` started as a real program and stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridgehead.runtime.lab.origins import CLIENT_DN_ANSWER, nginx_tls_conf
from tests.support.pki import Issued, TestCA
from tests.support.procs import free_port, running

ROOT = Path(__file__).resolve().parents[3]
BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")
TLS_SERVER = str(ROOT / "tests" / "support" / "tls_server.py")
ORIGIN_HOST = "localhost"


@dataclass
class Pki:
    dir: Path
    ca: TestCA
    server: Issued
    client: Issued
    other_ca: TestCA

    def client_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "https_proxy", "HTTPS_PROXY",
                    "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
            env.pop(var, None)
        return env


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca = TestCA.create(d, "Origin Test CA")
    server = ca.issue("server", dns=[ORIGIN_HOST, "localhost"], ips=["127.0.0.1"])
    client = ca.issue("client", cn="dirsync01", client=True, server=False)
    other = TestCA.create(d / "other", "Unrelated CA")
    return Pki(d, ca, server, client, other)


@dataclass
class Proxy:
    port: int
    state: Path
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.state / "ca" / "ca.pem"

    def records(self, expect: int = 1, timeout: float = 5.0) -> list[dict[str, object]]:
        """The access-log records, waiting up to ``timeout`` for at least ``expect`` of them
        (a tunnel is logged when both directions have closed, just after the client exits)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log.read_text().splitlines() if self.log.exists() else []
            if len(lines) >= expect or time.monotonic() > deadline:
                return [json.loads(line) for line in lines if line.strip()]
            time.sleep(0.05)


@pytest.fixture
def start_proxy(tmp_path: Path, pki: Pki) -> Iterator[object]:
    stack = ExitStack()
    counter = [0]

    def start(*args: str, state: Path | None = None) -> Proxy:
        counter[0] += 1
        port = free_port()
        state = state or tmp_path / f"state{counter[0]}"
        log = tmp_path / f"access{counter[0]}.log"
        argv = [BRIDGEHEAD, "forward", "--listen", f"127.0.0.1:{port}", "--state-dir", str(state),
                "--access-log", str(log), "--upstream-ca", str(pki.ca.cert), *args]
        proc = stack.enter_context(running(argv, port=port, log=tmp_path / f"proxy{counter[0]}.out"))
        return Proxy(port, state, log, proc)

    yield start
    stack.close()


@contextmanager
def nginx_origin(tmp: Path, pki: Pki, *, verify: str, tls: str = "TLSv1.2 TLSv1.3") -> Iterator[int]:
    """nginx over TLS with ``ssl_verify_client <verify>``; answers with the client cert's DN."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx not installed (scripts/setup.sh --dev installs it)")
    port = free_port()
    d = tmp / f"nginx-{port}"
    d.mkdir()
    (d / "logs").mkdir()
    directives = [f"server_name {ORIGIN_HOST};", f"ssl_certificate {pki.server.chain};",
                  f"ssl_certificate_key {pki.server.key};", f"ssl_protocols {tls};",
                  f"ssl_client_certificate {pki.ca.cert};", f"ssl_verify_client {verify};"]
    conf = nginx_tls_conf(d, port, directives, CLIENT_DN_ANSWER, worker_connections=256,
                          access_log=f"{d}/logs/access.log")
    (d / "nginx.conf").write_text(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with running([nginx, "-p", str(d), "-c", str(d / "nginx.conf")], port=port, log=d / "out.log"):
        yield port


@contextmanager
def python_origin(tmp: Path, cert: Issued, *extra: str) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, TLS_SERVER, "--port", str(port), "--cert", str(cert.chain), "--key", str(cert.key),
            *extra]
    with running(argv, port=port, log=tmp / f"origin-{port}.log"):
        yield port


def curl(pki: Pki, proxy: Proxy | None, url: str, *args: str, cacert: Path | None = None,
         resolve_port: int | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", "--noproxy", ""]
    if proxy is not None:
        argv += ["--proxy", proxy.url]
    if cacert is not None:
        argv += ["--cacert", str(cacert)]
    if resolve_port is not None:
        argv += ["--resolve", f"{ORIGIN_HOST}:{resolve_port}:127.0.0.1"]
    argv += [*args, url]
    return subprocess.run(argv, capture_output=True, text=True, env=pki.client_env(), timeout=60)


def status_of(result: subprocess.CompletedProcess[str]) -> int:
    return int(result.stdout.rsplit("\n", 1)[-1] or 0)
