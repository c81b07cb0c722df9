"""One cipher-suite policy on every listener (issue 10 item 11): the forward proxy's minted leaves, the reverse
proxy's plain and client-certificate (pyOpenSSL) listeners and the test backend all accept exactly the ECDHE-AEAD
TLS 1.2 suites. Probed with `openssl s_client -tls1_2 -cipher ...` against the running programs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridgehead.runtime import tls
from tests.support.pki import Issued, TestCA, issue_variant
from tests.support.procs import free_port, running

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")

# one TLS 1.2 offer per family; the policy accepts the first two only
OFFERS = {
    "ECDHE+AESGCM": True,
    "ECDHE+CHACHA20": True,
    "ECDHE+AES:!AESGCM:!AESCCM": False,   # CBC (HMAC-SHA1/SHA-256/SHA-384)
    "kRSA": False,                        # static-RSA key exchange, no forward secrecy
    "DHE+AES": False,
    "3DES:@SECLEVEL=0": False,
}


def accepted(port: int, offer: str, *, proxy: int | None = None, cert: Issued | None = None) -> bool:
    argv = ["openssl", "s_client", "-brief", "-tls1_2", "-cipher", offer, "-servername", "localhost",
            "-connect", f"localhost:{port}"]
    if proxy is not None:
        argv += ["-proxy", f"127.0.0.1:{proxy}"]
    if cert is not None:
        argv += ["-cert", str(cert.cert), "-key", str(cert.key)]
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    return result.returncode == 0 and "Ciphersuite" in result.stderr + result.stdout


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("suites")
    ca = TestCA.create(d, "Suites CA")
    return {"ca": ca, "rsa": issue_variant(ca, "rsa-server", dns=["localhost"], rsa_key=True),
            "ec": issue_variant(ca, "ec-server", dns=["localhost"])}


@pytest.fixture(scope="module")
def listeners(tmp_path_factory: pytest.TempPathFactory, certs: dict[str, object]) -> Iterator[dict[str, dict]]:
    """name → {port, proxy}: every kind of listener bridgehead runs, each with an RSA certificate where it can
    choose (an RSA certificate is what could negotiate static-RSA suites)."""
    from contextlib import ExitStack

    d = tmp_path_factory.mktemp("listeners")
    ca, rsa = certs["ca"], certs["rsa"]
    assert isinstance(ca, TestCA) and isinstance(rsa, Issued)
    with ExitStack() as stack:
        origin = free_port()  # an ECDHE origin for the forward proxy's upstream leg
        stack.enter_context(running(["openssl", "s_server", "-quiet", "-accept", str(origin), "-cert", str(rsa.cert),
                                     "-key", str(rsa.key), "-www"], port=origin, log=d / "origin.log"))
        fwd = free_port()
        stack.enter_context(running([BRIDGEHEAD, "forward", "--listen", f"127.0.0.1:{fwd}", "--state-dir",
                                     str(d / "fwd"), "--access-log", str(d / "fwd.log"), "--upstream-ca",
                                     str(ca.cert)], port=fwd, log=d / "fwd.out"))
        plain, mtls = free_port(), free_port()
        config = d / "reverse.toml"
        config.write_text(textwrap.dedent(f"""
            state_dir = "{d / 'rev'}"
            access_log = "{d / 'rev.log'}"
            [[listener]]
            name = "plain"
            listen = "127.0.0.1:{plain}"
            certificates = [{{ cert = "{rsa.chain}", key = "{rsa.key}" }}]
            [[listener]]
            name = "mtls"
            listen = "127.0.0.1:{mtls}"
            certificates = [{{ cert = "{rsa.chain}", key = "{rsa.key}" }}]
            client_ca = ["{ca.cert}"]
            [[route]]
            name = "a"
            listener = "plain"
            hosts = ["localhost"]
            mode = "reencrypt"
            backend = "https://localhost:{origin}"
            backend_ca = "{ca.cert}"
            [[route]]
            name = "b"
            listener = "mtls"
            hosts = ["localhost"]
            mode = "reencrypt"
            backend = "https://localhost:{origin}"
            backend_ca = "{ca.cert}"
            client_certificate = "optional"
        """))
        proc = stack.enter_context(running([BRIDGEHEAD, "reverse", "--config", str(config)], port=plain,
                                           log=d / "rev.out"))
        from tests.support.procs import wait_port

        wait_port(mtls, proc=proc, log=d / "rev.out")
        backend = free_port()
        users = d / "users.txt"
        users.write_text("CORP:alice:Passw0rd!\n")
        stack.enter_context(running([BRIDGEHEAD, "backend", "--listen", f"127.0.0.1:{backend}", "--cert",
                                     str(rsa.chain), "--key", str(rsa.key), "--users", str(users)], port=backend,
                                    log=d / "backend.out"))
        yield {
            "forward (minted leaf)": {"port": origin, "proxy": fwd},
            "reverse listener": {"port": plain, "proxy": None},
            "reverse client-certificate listener (pyOpenSSL)": {"port": mtls, "proxy": None},
            "backend": {"port": backend, "proxy": None},
        }


def test_every_listener_accepts_the_same_suites(listeners: dict[str, dict]) -> None:
    seen = {name: {offer: accepted(spec["port"], offer, proxy=spec["proxy"]) for offer in OFFERS}
            for name, spec in listeners.items()}
    for name, result in seen.items():
        assert result == OFFERS, f"{name}: {result}"


def test_tls13_still_negotiated_everywhere(listeners: dict[str, dict]) -> None:
    for name, spec in listeners.items():
        argv = ["openssl", "s_client", "-brief", "-tls1_3", "-servername", "localhost", "-connect",
                f"localhost:{spec['port']}"] + (["-proxy", f"127.0.0.1:{spec['proxy']}"] if spec["proxy"] else [])
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        assert "TLSv1.3" in result.stderr + result.stdout, name


def test_policy_constants_are_what_the_contexts_use() -> None:
    import ssl

    server = tls.server_context_from_pem  # the factory every listener goes through
    assert server is not None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers(tls.SERVER_CIPHERS)
    names = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert names and all(n.startswith("ECDHE-") and ("GCM" in n or "CHACHA20" in n) for n in names)
    client = tls.client_context()
    assert not any(c["name"].startswith(("AES", "DHE")) for c in client.get_ciphers())
