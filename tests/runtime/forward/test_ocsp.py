"""OCSP for origin certificates (issue 13 item 4), against ``openssl ocsp`` as the responder.

A PKI made at run time: a CA, leaves whose AIA names the responder (``http://127.0.0.1:PORT/``),
an ``openssl ca``-style index saying which are good and which revoked. Python ``ssl`` origins
present the leaves; curl goes through ``bridgehead forward`` (inspection), so the proxy's upstream
leg validates the leaf and asks the responder. Cases: good, revoked, responder down with
fail = open and fail = closed, and a cache hit (responder stopped after the first check: the
answer is reused until its nextUpdate, 5 minutes here).

OpenSSL 3.0's ``-port`` takes a number only and listens on every address; the tests connect to
127.0.0.1 only. The index gets an ``index.txt.attr`` with ``unique_subject = no`` (all the leaves
are named localhost; without it the responder refuses the index and never answers).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, Pki, curl, python_origin, status_of
from tests.support.pki import Issued, TestCA, issue_variant, write_ocsp_index
from tests.support.procs import free_port, running


@dataclass
class OcspPki:
    ca: TestCA
    port: int  # the responder's
    good: Issued
    revoked: Issued
    index: Path
    down: Issued  # names a responder nothing listens on


@pytest.fixture
def ocsp_pki(tmp_path: Path) -> OcspPki:
    ca = TestCA.create(tmp_path / "ocsp-ca", "OCSP Test CA")
    port, dead = free_port(), free_port()
    good = issue_variant(ca, "good", dns=[ORIGIN_HOST], ocsp_url=f"http://127.0.0.1:{port}/")
    revoked = issue_variant(ca, "revoked", dns=[ORIGIN_HOST], ocsp_url=f"http://127.0.0.1:{port}/")
    down = issue_variant(ca, "down", dns=[ORIGIN_HOST], ocsp_url=f"http://127.0.0.1:{dead}/ocsp")
    index = write_ocsp_index(ca, tmp_path / "index.txt", good=[good, down], revoked=[revoked])
    (tmp_path / "index.txt.attr").write_text("unique_subject = no\n")  # three leaves named localhost
    return OcspPki(ca, port, good, revoked, index, down)


@contextmanager
def responder(tmp_path: Path, p: OcspPki) -> Iterator[subprocess.Popen[bytes]]:
    argv = ["openssl", "ocsp", "-index", str(p.index), "-port", str(p.port), "-rsigner", str(p.ca.cert),
            "-rkey", str(p.ca.key), "-CA", str(p.ca.cert), "-nmin", "5"]
    log = tmp_path / "ocsp-responder.log"
    # no port probe: OpenSSL 3.0's responder serves one connection at a time and a connection closed
    # without a request stalls it; it prints this line once it listens
    with running(argv, log=log) as proc:
        deadline = time.monotonic() + 10
        while b"waiting for OCSP client connections" not in (log.read_bytes() if log.exists() else b""):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield proc


def fetch(pki: Pki, proxy: Any, port: int) -> subprocess.CompletedProcess[str]:
    return curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "-i", cacert=proxy.ca)


def code_header(result: subprocess.CompletedProcess[str]) -> str | None:
    for line in result.stdout.splitlines():
        if line.lower().startswith("x-bridgehead-code:"):
            return line.split(":", 1)[1].strip()
    return None


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ocsp.toml"
    path.write_text(text)
    return path


def test_good_and_revoked(tmp_path: Path, pki: Pki, start_proxy: Any, ocsp_pki: OcspPki) -> None:
    proxy = start_proxy("--upstream-ca", str(ocsp_pki.ca.cert))
    with responder(tmp_path, ocsp_pki), python_origin(tmp_path, ocsp_pki.good) as good, \
            python_origin(tmp_path, ocsp_pki.revoked) as revoked:
        ok = fetch(pki, proxy, good)
        assert status_of(ok) == 200, ok.stdout + ok.stderr
        refused = fetch(pki, proxy, revoked)
        assert status_of(refused) == 502 and code_header(refused) == "upstream-cert-revoked", refused.stdout
    records = proxy.records(expect=2)
    by_port = {r["port"]: r for r in records}
    assert by_port[good]["code"] is None and by_port[good]["action"] == "inspect"
    assert by_port[revoked]["code"] == "upstream-cert-revoked" and by_port[revoked]["tmg_status"] == 12230
    assert "OCSP responder http://127.0.0.1:" in str(by_port[revoked]["reason"])
    assert "revoked since" in str(by_port[revoked]["reason"])


def test_responder_down_fail_open_allows_and_logs(tmp_path: Path, pki: Pki, start_proxy: Any,
                                                  ocsp_pki: OcspPki) -> None:
    proxy = start_proxy("--upstream-ca", str(ocsp_pki.ca.cert))  # default ocsp = "open"
    with python_origin(tmp_path, ocsp_pki.down) as port:
        ok = fetch(pki, proxy, port)
        assert status_of(ok) == 200, ok.stdout + ok.stderr
    (record,) = proxy.records()
    assert record["action"] == "inspect" and record["status"] == 200
    assert record["code"] == "upstream-ocsp-soft-fail"
    assert "allowed because ocsp (default) says fail = open" in str(record["reason"])


def test_responder_down_fail_closed_refuses_with_its_page(tmp_path: Path, pki: Pki, start_proxy: Any,
                                                          ocsp_pki: OcspPki) -> None:
    cfg = config(tmp_path, f'ocsp_timeout = "2s"\n[[ocsp]]\ndestination = ["{ORIGIN_HOST}"]\nfail = "closed"\n')
    proxy = start_proxy("--upstream-ca", str(ocsp_pki.ca.cert), "--config", str(cfg))
    with python_origin(tmp_path, ocsp_pki.down) as port:
        refused = fetch(pki, proxy, port)
    assert status_of(refused) == 502 and code_header(refused) == "upstream-ocsp-unavailable", refused.stdout
    assert "fail = closed" in refused.stdout
    (record,) = proxy.records()
    assert record["code"] == "upstream-ocsp-unavailable" and record["action"] == "deny"
    assert "refused because ocsp[1] says fail = closed" in str(record["reason"])
    explained = subprocess.run([BRIDGEHEAD, "explain", "upstream-ocsp-unavailable"],
                               capture_output=True, text=True, timeout=30)
    assert explained.returncode == 0 and "fail = closed" in explained.stdout


def test_cache_answers_good_after_the_responder_stopped(tmp_path: Path, pki: Pki, start_proxy: Any,
                                                        ocsp_pki: OcspPki) -> None:
    cfg = config(tmp_path, '[forward]\nocsp = "closed"\nocsp_timeout = "2s"\n')
    proxy = start_proxy("--upstream-ca", str(ocsp_pki.ca.cert), "--config", str(cfg))
    with python_origin(tmp_path, ocsp_pki.good) as port:
        with responder(tmp_path, ocsp_pki):
            first = fetch(pki, proxy, port)
            assert status_of(first) == 200, first.stdout + first.stderr
        # the responder is stopped: with fail = closed only the cached answer (nextUpdate in 5 min) lets it pass
        again = fetch(pki, proxy, port)
        assert status_of(again) == 200, again.stdout + again.stderr
    records = proxy.records(expect=2)
    assert [r["code"] for r in records] == [None, None] and all(r["status"] == 200 for r in records)


def test_ocsp_settings_are_checked(tmp_path: Path) -> None:
    from bridgehead.runtime.forward.config import ConfigError, load_file
    from bridgehead.runtime.forward.config import build as build_settings

    for text, needle in [('ocsp = "maybe"\n', "ocsp must be open | closed | off"),
                         ('[[ocsp]]\ndestination = ["a.example"]\nfail = "sometimes"\n', "ocsp[1]: fail must be"),
                         ('[[ocsp]]\nfail = "closed"\n', "ocsp[1]: destination"),
                         ('ocsp_timeout = "soon"\n', "ocsp_timeout")]:
        with pytest.raises(ConfigError, match=re.escape(needle)):
            build_settings(load_file(config(tmp_path, text)))
    # serve's layout: the default under [forward], the tables at the top level
    settings = build_settings(load_file(config(tmp_path, '[forward]\nocsp = "off"\n[[ocsp]]\n'
                                                         'destination = ["*.bank.example"]\nfail = "closed"\n')))
    assert settings.ocsp is not None and settings.ocsp.mode_for("www.bank.example", 443) == ("closed", "ocsp[1]")
    assert settings.ocsp.mode_for("example.com", 443) == ("off", "ocsp (default)")
    # the same file read by serve (runtime/ops/gateway_config.py)
    from bridgehead.runtime.ops.gateway_config import parse_text

    served = parse_text('state_dir = "s"\n[forward]\nocsp = "off"\n[[ocsp]]\ndestination = ["*.bank.example"]\n'
                        'fail = "closed"\n', tmp_path / "serve.toml", check_files=False)
    assert served.forward is not None and served.forward.ocsp == settings.ocsp
    done = subprocess.run([BRIDGEHEAD, "forward", "--check", "--config", str(config(tmp_path, 'ocsp = "maybe"\n'))],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "ocsp must be" in done.stderr, done.stderr


def test_the_responder_is_asked_through_the_parent_proxy(tmp_path: Path, pki: Pki, start_proxy: Any,
                                                        ocsp_pki: OcspPki) -> None:
    """Chained: the OCSP POST takes the route of the responder's host — here the default parent, a
    squid that wants Basic credentials — in absolute-form, with the parent's Proxy-Authorization."""
    from tests.support.squid import squid_parent

    password = "Ocsp-chain-Pw1"
    with squid_parent(tmp_path, users={"chain": password}) as parent, responder(tmp_path, ocsp_pki), \
            python_origin(tmp_path, ocsp_pki.good) as good, python_origin(tmp_path, ocsp_pki.revoked) as revoked:
        secret = tmp_path / "parent.pass"
        secret.write_text(password + "\n")
        cfg = config(tmp_path, f'[forward]\nocsp = "closed"\nparent = "http://chain@127.0.0.1:{parent.port}"\n'
                               f'parent_password_file = "{secret}"\n')
        proxy = start_proxy("--upstream-ca", str(ocsp_pki.ca.cert), "--config", str(cfg))
        ok = fetch(pki, proxy, good)
        assert status_of(ok) == 200, ok.stdout + ok.stderr
        refused = fetch(pki, proxy, revoked)
        assert status_of(refused) == 502 and code_header(refused) == "upstream-cert-revoked", refused.stdout
        posts = [line for line in parent.access_lines(expect=4)
                 if f"POST http://127.0.0.1:{ocsp_pki.port}/" in line and " chain " in line]
        assert len(posts) == 2, parent.access_lines(timeout=0)
    assert password not in proxy.log.read_text()
