"""S1 measured: ``bridgehead forward`` (tunnel / block / present) in front of origins that ask for
a client certificate in every way a real server does (seeds 000/001).

Topology on loopback: curl (with the sync tool's own client certificate, trusting the origin CA
and the proxy's CA) → ``bridgehead forward`` → origin. Origins: nginx without / with optional /
with required client certificates (TLS 1.2 only, TLS 1.3 only), Apache renegotiating for
``/secure`` (TLS 1.2), a Python origin using TLS 1.3 post-handshake auth for ``/secure``.
Measured per row: the status curl got, the proxy's access-log ``action``/``code``/``tmg_status``,
whose certificate the origin saw, and for late requests whether the destination was learned
and what the next connection got.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from bridgehead.core.lab.model import Row, Scenario
from bridgehead.runtime.lab import origins
from bridgehead.runtime.lab.pki import LabPki
from bridgehead.runtime.lab.procs import Programs, bridgehead_argv, clean_env, find_program, free_port

HOST = "localhost"


class _S1:
    def __init__(self, progs: Programs) -> None:
        self.progs = progs
        self.dir = progs.workdir
        self.pki = LabPki.init(self.dir / "pki", "S1 Origin CA")
        self.server = self.pki.server([HOST, "127.0.0.1"], file="origin")
        self.client = self.pki.client("dirsync01")
        self.bridging = self.pki.client("bridging", cn="bridgehead-bridging")
        self.proxies: dict[str, tuple[int, Path, Path]] = {}
        self.origin_ports: dict[str, int] = {}
        self.curl = find_program("curl")

    # ---- topology -------------------------------------------------------------------------------------
    def proxy(self, policy: str) -> tuple[int, Path, Path]:
        if policy not in self.proxies:
            port = free_port()
            state, log = self.dir / f"forward-{policy}", self.dir / f"forward-{policy}.access.log"
            config = self.dir / f"forward-{policy}.toml"
            text = f'on_client_cert_request = "{"block" if policy == "block" else "tunnel"}"\n'
            if policy == "present":
                text += (f'[[client_cert_rule]]\ndestination = "{HOST}"\naction = "present"\n'
                         f'cert = "{self.bridging.cert}"\nkey = "{self.bridging.key}"\n')
            config.write_text(text)
            argv = [*bridgehead_argv(), "forward", "--listen", f"127.0.0.1:{port}", "--state-dir", str(state),
                    "--access-log", str(log), "--upstream-ca", str(self.pki.ca_cert), "--config", str(config)]
            self.progs.start(f"forward-{policy}", argv, port=port)
            self.proxies[policy] = (port, state, log)
        return self.proxies[policy]

    def origin(self, server: str) -> int:
        if server not in self.origin_ports:
            chain, key, ca = self.server.chain, self.server.key, self.pki.ca_cert
            if server == "renegotiate-per-path":
                port = origins.apache_renegotiating(self.progs, "apache", cert=self.server.cert, key=key, ca=ca)
            elif server == "post-handshake":
                port = origins.pha_origin(self.progs, "pha-origin", chain=chain, key=key, ca=ca)
            else:
                verify, protocols = {"none": ("off", "TLSv1.2 TLSv1.3"), "optional": ("optional", "TLSv1.2 TLSv1.3"),
                                     "required-tls12": ("on", "TLSv1.2"), "required-tls13": ("on", "TLSv1.3")}[server]
                port = origins.nginx_tls(self.progs, f"nginx-{server}", chain=chain, key=key, client_ca=ca,
                                         verify=verify, protocols=protocols)
            self.origin_ports[server] = port
        return self.origin_ports[server]

    def bundle(self, policy: str) -> Path:
        """What the client trusts: the origin's CA (tunnelled) and the proxy's CA (inspected)."""
        path = self.dir / f"trust-{policy}.pem"
        _, state, _ = self.proxy(policy)
        path.write_bytes(self.pki.ca_cert.read_bytes() + (state / "ca" / "ca.pem").read_bytes())
        return path

    # ---- clients ----------------------------------------------------------------------------------------
    def get(self, policy: str, url: str) -> tuple[int, dict[str, str], str]:
        port, _, _ = self.proxy(policy)
        argv = [self.curl, "-sS", "-i", "--max-time", "15", "--noproxy", "", "--proxy", f"http://127.0.0.1:{port}",
                "--cacert", str(self.bundle(policy)), "--cert", str(self.client.cert), "--key",
                str(self.client.key), "-w", "\n%{http_code}", url]
        r = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=30)
        text, _, code = r.stdout.rpartition("\n")
        # the last response head (after "HTTP/1.1 200 Connection established")
        blocks = text.split("\r\n\r\n")
        heads = [b for b in blocks if b.startswith("HTTP/")]
        headers: dict[str, str] = {}
        if heads:
            last = heads[-1] if not heads[-1].startswith("HTTP/1.1 200 Connection established") else heads[0]
            for line in last.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return int(code or 0), headers, text

    @staticmethod
    def record(log: Path, port: int, seen: int, timeout: float = 6.0) -> dict[str, Any] | None:
        """The newest access-log record for the origin ``port`` after the first ``seen`` records."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [x for x in (log.read_text().splitlines() if log.exists() else []) if x.strip()]
            mine = [json.loads(x) for x in lines[seen:]]
            mine = [r for r in mine if r.get("port") == port]
            if mine or time.monotonic() > deadline:
                return mine[-1] if mine else None
            time.sleep(0.05)

    @staticmethod
    def log_len(log: Path) -> int:
        return len([x for x in log.read_text().splitlines() if x.strip()]) if log.exists() else 0

    def learned(self, policy: str, port: int) -> bool:
        _, state, _ = self.proxy(policy)
        r = subprocess.run([*bridgehead_argv(), "bypass", "list", "--json", "--state-dir", str(state)],
                           capture_output=True, text=True, timeout=30)
        entries = json.loads(r.stdout or "[]") if r.returncode == 0 else []
        return any(e.get("destination") == f"{HOST}:{port}" for e in entries)

    # ---- one row ------------------------------------------------------------------------------------------
    def measure(self, server: str, policy: str) -> dict[str, Any]:
        oport = self.origin(server)
        _, _, log = self.proxy(policy)
        path = "/secure/" if server in ("renegotiate-per-path", "post-handshake") else "/"
        url = f"https://{HOST}:{oport}{path}"
        before = self.log_len(log)
        status, headers, body = self.get(policy, url)
        rec = self.record(log, oport, before) or {}
        measured: dict[str, Any] = {
            "status": status,
            "action": rec.get("action"),
            "code": headers.get("x-bridgehead-code") or rec.get("code"),
            "tmg": rec.get("tmg_status"),
        }
        if "client=CN=" in body or '"client_cert": "' in body or "secret area" in body:
            if "bridgehead-bridging" in body:
                measured["server_saw"] = "bridging"
            elif "dirsync01" in body or "secret area" in body:
                measured["server_saw"] = "client"
        else:
            measured["server_saw"] = None
        if server in ("renegotiate-per-path", "post-handshake"):
            measured["learned"] = self.learned(policy, oport)
            measured["next_status"] = self.get(policy, url)[0]
        return measured


def run(rows: list[Row], workdir: Path) -> None:
    """Measure ``rows`` of S1 (fills ``row.measured``)."""
    with Programs(workdir) as progs:
        lab = _S1(progs)
        for row in rows:
            row.measured = lab.measure(row.case["server"], row.case["policy"])


def scenario_rows(sc: Scenario, quick: bool) -> list[Row]:
    return [r for r in sc.rows if r.quick or not quick]
