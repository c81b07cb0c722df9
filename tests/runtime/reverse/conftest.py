"""Fixtures for the reverse-proxy tests: a PKI generated at run time, real backends
(`bridgehead backend`, nginx) and `bridgehead reverse` started as a real program, stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridgehead.runtime.lab.origins import nginx_tls_conf
from tests.support.pki import Issued, TestCA
from tests.support.procs import free_port, running

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")
USER, PASSWORD = "CORP\\alice", "Passw0rd!"


@dataclass
class Pki:
    dir: Path
    company: TestCA  # issues device (client) certificates: the trust list
    internal: TestCA  # issues the backend's certificate and the bridging certificate
    public: TestCA  # issues the edge certificate clients see
    other: TestCA  # an untrusted CA
    edge: Issued
    backend: Issued
    bridging: Issued
    alice: Issued  # UPN in the SAN
    bob: Issued  # e-mail only
    carol: Issued  # revoked by the tests
    expired: Issued
    server_only: Issued  # EKU serverAuth only
    mallory: Issued  # issued by the other CA
    users: Path  # DOMAIN:user:password for the backend and the Basic fallback

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "https_proxy", "HTTPS_PROXY",
                    "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
            env.pop(var, None)
        return env


@pytest.fixture(scope="package")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("reverse-pki")
    company = TestCA.create(d / "company", "Company Device CA")
    internal = TestCA.create(d / "internal", "Internal CA")
    public = TestCA.create(d / "public", "Public CA")
    other = TestCA.create(d / "other", "Other CA")
    names = ["localhost", "mail.example.test", "mrs.example.test"]
    edge = public.issue("edge", dns=names, ips=["127.0.0.1"])
    backend = internal.issue("backend", dns=[*names, "ex01.internal.test"], ips=["127.0.0.1"])
    bridging = internal.issue("bridging", cn="bridgehead-proxy.internal.test", client=True, server=False)
    alice = company.issue("alice", cn="Alice Device", client=True, server=False, upn="alice@EXAMPLE.TEST")
    bob = company.issue("bob", cn="Bob Device", client=True, server=False, emails=["bob@example.test"])
    carol = company.issue("carol", cn="Carol Device", client=True, server=False, upn="carol@EXAMPLE.TEST")
    expired = company.issue("expired", cn="Old Device", client=True, server=False, upn="dave@EXAMPLE.TEST",
                            days=-2)
    server_only = company.issue("serveronly", cn="Server Only", server=True, client=False, upn="erin@EXAMPLE.TEST")
    mallory = other.issue("mallory", cn="Mallory", client=True, server=False, upn="alice@EXAMPLE.TEST")
    users = d / "users.txt"
    users.write_text(f"CORP:alice:{PASSWORD}\nCORP:frank:Fr4nk-pass\n")
    return Pki(d, company, internal, public, other, edge, backend, bridging, alice, bob, carol, expired,
               server_only, mallory, users)


@dataclass
class Reverse:
    port: int
    log: Path
    out: Path
    proc: subprocess.Popen[bytes]
    config: Path

    def records(self, expect: int = 1, timeout: float = 5.0, action: str | None = None) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log.read_text().splitlines() if self.log.exists() else []
            records = [json.loads(x) for x in lines if x.strip()]
            if action:
                records = [r for r in records if r.get("action") == action]
            if len(records) >= expect or time.monotonic() > deadline:
                return records
            time.sleep(0.05)


@pytest.fixture
def start_reverse(tmp_path: Path) -> Iterator[object]:
    """start(toml_text_with_{port}) → Reverse; the listener port is substituted for ``{port}``."""
    stack = ExitStack()
    counter = [0]

    def start(text: str, *args: str, port: int | None = None) -> Reverse:
        counter[0] += 1
        port = port or free_port()
        config = tmp_path / f"reverse{counter[0]}.toml"
        log = tmp_path / f"reverse{counter[0]}.log"
        head = f'state_dir = "state{counter[0]}"\naccess_log = "{log}"\n'
        config.write_text(head + text.replace("{port}", str(port)))
        out = tmp_path / f"reverse{counter[0]}.out"
        proc = stack.enter_context(running([BRIDGEHEAD, "reverse", "--config", str(config), *args], port=port,
                                           log=out))
        return Reverse(port, log, out, proc, config)

    yield start
    stack.close()


@contextmanager
def bh_backend(tmp: Path, pki: Pki, *, ep: str = "none", client_cert: str = "ignore", auth: str = "negotiate,ntlm",
               cert: Issued | None = None, client_ca: Path | None = None) -> Iterator[int]:
    """`bridgehead backend` (IIS/Exchange stand-in) over TLS with the internal certificate."""
    port = free_port()
    cert = cert or pki.backend
    argv = [BRIDGEHEAD, "backend", "--listen", f"127.0.0.1:{port}", "--cert", str(cert.chain), "--key",
            str(cert.key), "--users", str(pki.users), "--ep", ep, "--auth", auth, "--client-cert", client_cert,
            "--client-ca", str(client_ca or pki.internal.cert)]
    with running(argv, port=port, log=tmp / f"backend-{port}.log"):
        yield port


@contextmanager
def nginx_backend(tmp: Path, pki: Pki, *, verify: str = "off") -> Iterator[int]:
    """nginx over TLS (``ssl_verify_client``) answering with what it received."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx not installed (scripts/setup.sh installs it)")
    port = free_port()
    d = tmp / f"nginx-{port}"
    (d / "logs").mkdir(parents=True)
    echo = "xfh=$http_x_forwarded_host user=$http_x_bridgehead_user auth=$http_authorization client=$ssl_client_s_dn"
    answer = f"host=$http_host xff=$http_x_forwarded_for proto=$http_x_forwarded_proto {echo}"
    directives = [f"ssl_certificate {pki.backend.chain};", f"ssl_certificate_key {pki.backend.key};",
                  f"ssl_client_certificate {pki.internal.cert};", f"ssl_verify_client {verify};"]
    (d / "nginx.conf").write_text(nginx_tls_conf(d, port, directives, answer, worker_connections=256))
    with running([nginx, "-p", str(d), "-c", str(d / "nginx.conf")], port=port, log=d / "out.log"):
        yield port


def curl(pki: Pki, url: str, *args: str, cacert: Path | None = None, cert: Issued | None = None,
         resolve: tuple[str, int] | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", "--noproxy", "*"]
    argv += ["--cacert", str(cacert or pki.public.cert)]
    if cert is not None:
        argv += ["--cert", str(cert.cert), "--key", str(cert.key)]
    if resolve is not None:
        argv += ["--resolve", f"{resolve[0]}:{resolve[1]}:127.0.0.1"]
    argv += [*args, url]
    return subprocess.run(argv, capture_output=True, text=True, env=pki.env(), timeout=60)


def status_of(result: subprocess.CompletedProcess[str]) -> int:
    return int(result.stdout.rsplit("\n", 1)[-1] or 0)


def listener(pki: Pki, *, cert: Issued | None = None, extra: str = "") -> str:
    cert = cert or pki.edge
    return textwrap.dedent(f"""
        [[listener]]
        name = "edge"
        listen = "127.0.0.1:{{port}}"
        certificates = [{{ cert = "{cert.chain}", key = "{cert.key}" }}]
        client_ca = ["{pki.company.cert}"]
    """) + extra
