"""The documented example works as written: examples/reverse-exchange.toml (also shown in
docs/reverse.md) with the certificates it names generated next to it, only the two ports
rewritten to free ones, `bridgehead backend` as ex01.internal.test, curl as the client."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.runtime.reverse.conftest import BRIDGEHEAD, PASSWORD, Pki, bh_backend, curl, status_of
from tests.support.pki import TestCA
from tests.support.procs import free_port, running

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "reverse-exchange.toml"


def test_docs_show_the_example_file_verbatim() -> None:
    docs = (ROOT / "docs" / "reverse.md").read_text()
    assert EXAMPLE.read_text().strip() in docs


def test_example_publishes_exchange_paths(tmp_path: Path, pki: Pki) -> None:
    d = tmp_path / "site"
    d.mkdir()
    company = TestCA.create(d / "pki-company", "Company Device CA")
    internal = TestCA.create(d / "pki-internal", "Internal CA")
    public = TestCA.create(d / "pki-public", "Public CA")
    edge = public.issue("edge", dns=["mail.example.test"])
    backend = internal.issue("ex01", dns=["ex01.internal.test", "mrs.example.test"])
    bridging = internal.issue("proxy-client", cn="bridgehead.internal.test", client=True, server=False)
    device = company.issue("device", cn="Alice Phone", client=True, server=False, upn="alice@EXAMPLE.TEST")
    shutil.copy(edge.chain, d / "edge.pem")
    shutil.copy(edge.key, d / "edge.key")
    shutil.copy(company.cert, d / "company-ca.pem")
    company.write_crl([], d / "company-ca.crl")
    shutil.copy(internal.cert, d / "internal-ca.pem")
    shutil.copy(bridging.cert, d / "proxy-client.pem")
    shutil.copy(bridging.key, d / "proxy-client.key")
    shutil.copy(pki.users, d / "users.txt")
    edge_port = free_port()
    with bh_backend(tmp_path, pki, cert=backend, client_cert="require", auth="ntlm,basic",
                    client_ca=internal.cert) as be_port:
        # the backend requires client certificates from the internal CA: the bridging certificate
        text = EXAMPLE.read_text().replace("127.0.0.1:8443", f"127.0.0.1:{edge_port}")
        config = d / "reverse-exchange.toml"
        config.write_text(text.replace("127.0.0.1:9443", f"127.0.0.1:{be_port}"))
        lint = subprocess.run([BRIDGEHEAD, "lint", "--config", str(config), "--json"], capture_output=True,
                              text=True, timeout=60)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        with running([BRIDGEHEAD, "reverse", "--config", str(config)], port=edge_port, log=d / "reverse.out"):
            mail = ("mail.example.test", edge_port)
            base = f"https://mail.example.test:{edge_port}"
            # ActiveSync with the device certificate: user's Basic header goes on to the backend
            r = curl(pki, f"{base}/Microsoft-Server-ActiveSync", "-u", f"CORP\\alice:{PASSWORD}",
                     cacert=public.cert, cert=device, resolve=mail)
            assert status_of(r) == 200, r.stdout + r.stderr
            body = json.loads(r.stdout.rsplit("\n", 1)[0])
            # the backend requires a client certificate from the internal CA: 200 means the bridging one was shown
            assert body["user"] == "CORP\\alice" and body["scheme"] == "Basic"
            # no certificate: the listener answers with a Basic challenge, then the password works
            assert status_of(curl(pki, f"{base}/Microsoft-Server-ActiveSync", cacert=public.cert,
                                  resolve=mail)) == 401
            r = curl(pki, f"{base}/Microsoft-Server-ActiveSync", "-u", f"CORP\\alice:{PASSWORD}",
                     cacert=public.cert, resolve=mail)
            assert status_of(r) == 200, r.stdout
            # EWS with NTLM re-encrypted (Extended Protection none on the backend)
            r = curl(pki, f"{base}/EWS/Exchange.asmx", "--ntlm", "-u", f"CORP\\alice:{PASSWORD}",
                     cacert=public.cert, resolve=mail)
            assert status_of(r) == 200 and json.loads(r.stdout.rsplit("\n", 1)[0])["scheme"] == "NTLM"
            # unpublished path
            assert status_of(curl(pki, f"{base}/ecp/", cacert=public.cert, resolve=mail)) == 404
            # MRS by SNI passthrough: the client sees the backend's own certificate (internal CA)
            r = curl(pki, f"https://mrs.example.test:{edge_port}/EWS/mrsproxy.svc", cacert=internal.cert,
                     cert=bridging, resolve=("mrs.example.test", edge_port))
            assert status_of(r) == 401, r.stderr  # the backend's own NTLM challenge, end to end
        log = [json.loads(x) for x in (d / "reverse-access.log").read_text().splitlines()]
        routes = {x.get("route") for x in log if x["action"] in ("publish", "deny", "tunnel")}
        assert {"activesync", "ews", "mrs"} <= routes
