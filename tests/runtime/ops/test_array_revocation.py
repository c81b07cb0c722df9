"""Revocation state shared by the members of an array (real PostgreSQL, two ``bridgehead serve`` members).

The CRL is served over HTTP by Python's ``http.server`` (its request log counts the fetches), the
published site by another; curl presents the client certificate. m1 fetches the CRL, m2 — asked
two seconds later — takes it from the store instead of fetching (m2 runs two workers, which share
it the same way). The certificate is revoked; once
m1's copy is stale m1 fetches the new list and refuses the certificate, and m2, whose own copy of
the old list would still be fresh for two more seconds without sharing, refuses it at once too
(and fetches nothing). ``/metrics`` shows the age of the list per listener and source. The same
with OCSP answers, against ``openssl ocsp`` as the responder (its ``-text`` log counts the requests).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.pki import TestCA, write_ocsp_index
from tests.support.postgres import pg_cluster
from tests.support.procs import free_port, running, wait_port

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")
ADDRS = {"m1": "127.0.0.2", "m2": "127.0.0.3"}
MAX_AGE = 4.0


def _curl(addr: str, port: int, public: Path, cert: object) -> tuple[int, str]:
    out = subprocess.run(["curl", "-sS", "-i", "--max-time", "10", "--resolve", f"localhost:{port}:{addr}",
                          "--cacert", str(public), "--cert", str(cert.cert), "--key", str(cert.key),  # type: ignore[attr-defined]
                          f"https://localhost:{port}/site/index.html"], capture_output=True, text=True)
    match = re.match(r"HTTP/1\.[01] (\d{3})", out.stdout)
    assert match, out.stdout + out.stderr
    code = re.search(r"X-Bridgehead-Code: (\S+)", out.stdout)
    return int(match.group(1)), code.group(1) if code else ""


def _fetches(log: Path) -> int:
    return log.read_text().count("GET /company.crl")


def test_a_crl_one_member_fetched_is_used_by_the_other(tmp_path: Path) -> None:
    company = TestCA.create(tmp_path / "company", "Company Device CA")
    public = TestCA.create(tmp_path / "public", "Public CA")
    edge_cert = public.issue("edge", dns=["localhost"])
    carol = company.issue("carol", cn="Carol Device", client=True, server=False, upn="carol@EXAMPLE.TEST")
    crl_dir, site = tmp_path / "crl", tmp_path / "site"
    crl_dir.mkdir()
    site.mkdir()
    (site / "site").mkdir()
    (site / "site" / "index.html").write_text("published\n")
    company.write_crl([], crl_dir / "company.crl")
    crl_port, site_port, edge, admin = free_port(), free_port(), free_port(), free_port()
    conf = tmp_path / "gateway.toml"
    conf.write_text(f"""state_dir = "state"
drain_timeout = "2s"
[[listener]]
name = "edge"
listen = "127.0.0.1:{edge}"
certificates = [{{ cert = "{edge_cert.chain}", key = "{edge_cert.key}" }}]
client_ca = ["{company.cert}"]
revocation = {{ crl = ["http://127.0.0.1:{crl_port}/company.crl"], max_age = "{MAX_AGE:g}s", fail = "closed" }}

[[route]]
name = "site"
hosts = ["localhost"]
paths = ["/site/"]
mode = "offload"
backend = "http://127.0.0.1:{site_port}"
client_certificate = "required"

[admin]
listen = "127.0.0.1:{admin}"
""")
    crl_log = tmp_path / "crl-server.log"
    http = [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1"]
    with pg_cluster() as pg, \
            running([*http, str(crl_port), "--directory", str(crl_dir)], port=crl_port, log=crl_log), \
            running([*http, str(site_port), "--directory", str(site)], port=site_port):
        url = pg.url
        applied = subprocess.run([BRIDGEHEAD, "config", "apply", str(conf), "--store", url], capture_output=True,
                                 text=True, timeout=60)
        assert applied.returncode == 0, applied.stderr
        members = [running([BRIDGEHEAD, "serve", "--store", url, "--member", name, "--bind", addr, "--state-dir",
                            str(tmp_path / name), *(["--workers", "2"] if name == "m2" else [])], port=edge, host=addr,
                           log=tmp_path / f"{name}.log", cwd=tmp_path, timeout=30)
                   for name, addr in ADDRS.items()]  # m2's two workers share the lists through the store too
        try:
            for m in members:
                m.__enter__()
            assert _curl(ADDRS["m1"], edge, public.cert, carol) == (200, "")
            m1_fetched = time.monotonic()  # m1 fetched the list during that request (at or before now)
            assert _fetches(crl_log) == 1
            time.sleep(2.0)
            assert _curl(ADDRS["m2"], edge, public.cert, carol) == (200, "")
            assert _fetches(crl_log) == 1, "m2 took the list from the store"

            time.sleep(1.1)  # CRL times have one-second resolution: the new list's thisUpdate is later
            company.write_crl([carol], crl_dir / "company.crl")
            time.sleep(max(0.0, m1_fetched + MAX_AGE + 0.3 - time.monotonic()))
            assert _curl(ADDRS["m1"], edge, public.cert, carol) == (403, "edge-client-cert-revoked")
            assert _fetches(crl_log) == 2
            seen = time.monotonic()
            # without sharing, m2's own copy of the old list (fetched ~2 s after m1's) would still be fresh here
            assert _curl(ADDRS["m2"], edge, public.cert, carol) == (403, "edge-client-cert-revoked")
            took = time.monotonic() - seen
            print(f"\nm2 refused the certificate m1 saw revoked {took:.2f} s later, without fetching the CRL")
            assert _fetches(crl_log) == 2

            metrics = requests.get(f"http://{ADDRS['m2']}:{admin}/metrics", timeout=5).text
            line = next(ln for ln in metrics.splitlines()
                        if ln.startswith("bridgehead_revocation_cache_age_seconds{"))
            assert 'listener="edge"' in line and f'source="http://127.0.0.1:{crl_port}/company.crl"' in line
            assert 'issuer="CN=Company Device CA"' in line
            assert 0.0 <= float(line.rsplit(" ", 1)[1]) < MAX_AGE
            for addr in ADDRS.values():  # both members still serve
                wait_port(admin, addr)
        finally:
            for m in reversed(members):
                m.__exit__(None, None, None)


def _site_config(tmp_path: Path, edge: int, admin: int, site_port: int, company: TestCA, public: TestCA,
                 revocation: str) -> Path:
    edge_cert = public.issue("edge", dns=["localhost"])
    conf = tmp_path / "gateway.toml"
    conf.write_text(f"""state_dir = "state"
drain_timeout = "2s"
[[listener]]
name = "edge"
listen = "127.0.0.1:{edge}"
certificates = [{{ cert = "{edge_cert.chain}", key = "{edge_cert.key}" }}]
client_ca = ["{company.cert}"]
revocation = {revocation}

[[route]]
name = "site"
hosts = ["localhost"]
paths = ["/site/"]
mode = "offload"
backend = "http://127.0.0.1:{site_port}"
client_certificate = "required"

[admin]
listen = "127.0.0.1:{admin}"
""")
    return conf


def test_an_ocsp_answer_one_member_got_is_used_by_the_other(tmp_path: Path) -> None:
    company = TestCA.create(tmp_path / "company", "Company Device CA")
    public = TestCA.create(tmp_path / "public", "Public CA")
    carol = company.issue("carol", cn="Carol Device", client=True, server=False, upn="carol@EXAMPLE.TEST")
    site = tmp_path / "site"
    (site / "site").mkdir(parents=True)
    (site / "site" / "index.html").write_text("published\n")
    index = write_ocsp_index(company, tmp_path / "index.txt", good=[carol])
    ocsp_port, site_port, edge, admin = free_port(), free_port(), free_port(), free_port()
    conf = _site_config(tmp_path, edge, admin, site_port, company, public,
                        f'{{ ocsp = "http://127.0.0.1:{ocsp_port}/", max_age = "{MAX_AGE:g}s", fail = "closed" }}')
    ocsp_log = tmp_path / "ocsp.log"
    responder = ["stdbuf", "-o0", "openssl", "ocsp", "-index", str(index), "-port", str(ocsp_port),  # -text: unbuffered
                 "-rsigner", str(company.cert), "-rkey", str(company.key), "-CA", str(company.cert), "-nmin", "5",
                 "-text"]

    logs = [ocsp_log, tmp_path / "ocsp-2.log"]

    def asked() -> int:
        return sum(log.read_text(errors="replace").count("OCSP Request Data:") for log in logs if log.exists())

    def start_responder(log: Path) -> Any:
        ctx = running(responder, log=log)
        ctx.__enter__()
        deadline = time.monotonic() + 10  # openssl ocsp serves one connection at a time: no port probe
        while b"waiting for OCSP client connections" not in (log.read_bytes() if log.exists() else b""):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        return ctx

    http = [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1"]
    with pg_cluster() as pg, running([*http, str(site_port), "--directory", str(site)], port=site_port):
        ocsp = start_responder(ocsp_log)
        url = pg.url
        applied = subprocess.run([BRIDGEHEAD, "config", "apply", str(conf), "--store", url], capture_output=True,
                                 text=True, timeout=60)
        assert applied.returncode == 0, applied.stderr
        members = [running([BRIDGEHEAD, "serve", "--store", url, "--member", name, "--bind", addr, "--state-dir",
                            str(tmp_path / name)], port=edge, host=addr, log=tmp_path / f"{name}.log", cwd=tmp_path,
                           timeout=30)
                   for name, addr in ADDRS.items()]
        try:
            for m in members:
                m.__enter__()
            assert _curl(ADDRS["m1"], edge, public.cert, carol) == (200, "")
            m1_asked = time.monotonic()
            assert asked() == 1
            time.sleep(2.0)
            assert _curl(ADDRS["m2"], edge, public.cert, carol) == (200, "")
            assert asked() == 1, "m2 took m1's answer from the store"

            time.sleep(1.1)  # the next answer's thisUpdate is a later second
            write_ocsp_index(company, index, revoked=[carol])
            ocsp.__exit__(None, None, None)  # OpenSSL 3.0's responder does not re-read the index: restart it
            ocsp = start_responder(logs[1])
            time.sleep(max(0.0, m1_asked + MAX_AGE + 0.3 - time.monotonic()))
            assert _curl(ADDRS["m1"], edge, public.cert, carol) == (403, "edge-client-cert-revoked")
            assert asked() == 2
            # without sharing, m2's own "good" answer (asked ~2 s after m1's) would still be fresh here
            assert _curl(ADDRS["m2"], edge, public.cert, carol) == (403, "edge-client-cert-revoked")
            assert asked() == 2
        finally:
            for m in reversed(members):
                m.__exit__(None, None, None)
            ocsp.__exit__(None, None, None)
