"""S3 measured: ``bridgehead oauth probe`` (Test-OAuthConnectivity) against each row of seed 003's table.

Topology on loopback: ``bridgehead backend --auth bearer`` (Exchange's OAuth validator over HTTPS,
trusting its own Auth Certificate and the ACS issuer), nginx answering 404 (not EWS),
``openssl s_server`` speaking only TLS 1.3 to a TLS-1.2-only probe (the connection is closed), a
name under ``.invalid`` (RFC 6761: never resolves), a token signed by a foreign tenant's
certificate, no Host header, and an audience host the server does not answer to. Measured: the
probe's registry code, the HTTP status, the ``x-ms-diagnostics`` number, and the fix it prints.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from bridgehead.core.lab.model import Row
from bridgehead.runtime.lab import origins
from bridgehead.runtime.lab.pki import LabPki
from bridgehead.runtime.lab.procs import Programs, bridgehead_argv, clean_env

REALM = "contoso.test"
ACS = "00000001-0000-0000-c000-000000000000"
FOREIGN_TENANT = "f31f3647-5d87-4b69-a0b6-73f62aeab14c"
HOST = "owa.example.test"


class _S3:
    def __init__(self, progs: Programs) -> None:
        self.progs = progs
        self.dir = progs.workdir
        self.state = self.dir / "state"
        self.pki = LabPki.init(self.dir / "pki", "S3 Server CA")
        self.server = self.pki.server([HOST, "hybrid.example.test", "localhost", "127.0.0.1"], file="owa")
        self.acs = LabPki.init(self.dir / "acs", "accounts.accesscontrol.windows.net", use_rsa=True)
        self.foreign = LabPki.init(self.dir / "foreign", "Foreign Tenant Auth Certificate", use_rsa=True)
        self.bh("authcert", "new", "--state-dir", str(self.state))
        self.bh("oauth", "trust", "add-issuer", "--state-dir", str(self.state), "--name", "EvoSts",
                "--issuer", f"{ACS}@{REALM}", "--cert", str(self.acs.ca_cert))
        self.port = origins.bh_backend(progs, "backend-bearer", "--auth", "bearer", "--state-dir", str(self.state),
                                       "--realm", REALM, "--cert", str(self.server.chain), "--key",
                                       str(self.server.key))
        self._nginx: int | None = None
        self._s_server: int | None = None

    def bh(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([*bridgehead_argv(), *args], capture_output=True, text=True, timeout=60, env=clean_env())
        if r.returncode != 0:
            raise RuntimeError(f"bridgehead {args[0]} {args[1]}: {r.stderr.strip()}")
        return r

    def probe(self, url: str, *args: str) -> dict[str, Any]:
        argv = [*bridgehead_argv(), "oauth", "probe", url, "--cafile", str(self.pki.ca_cert), "--state-dir",
                str(self.state), "--json", "--timeout", "5", *args]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=clean_env())
        if r.returncode not in (0, 1) or not r.stdout.strip().startswith("{"):
            return {"failure": f"probe exited {r.returncode}: {r.stderr.strip()[:200]}"}
        report: dict[str, Any] = json.loads(r.stdout)
        return report

    def measure(self, row: str) -> dict[str, Any]:
        base = f"https://{HOST}:{self.port}/"
        local = ("--connect", "127.0.0.1")
        if row == "working":
            report = self.probe(base, *local, "--mailbox", "user1@example.test")
        elif row == "mailbox-not-in-exchange-online":
            report = self.probe(base, *local, "--mailbox", "noexouser")
        elif row == "target-uri-does-not-resolve":
            report = self.probe("https://hybrid2.example.invalid/", "--connect", "hybrid2.example.invalid")
        elif row == "target-not-exchange-ews":
            if self._nginx is None:
                self._nginx = origins.nginx_tls(self.progs, "nginx-404", chain=self.server.chain,
                                                key=self.server.key, status=404)
            report = self.probe(f"https://{HOST}:{self._nginx}/", *local)
        elif row == "tls-incompatible-connection-closed":
            if self._s_server is None:
                self._s_server = origins.s_server(self.progs, "s_server-tls13", cert=self.server.cert,
                                                  key=self.server.key)
            report = self.probe(f"https://{HOST}:{self._s_server}/", *local, "--tls-max", "1.2")
        elif row == "foreign-tenant":
            report = self.probe(base, *local, "--issuer", f"{ACS}@{FOREIGN_TENANT}", "--token-cert",
                                str(self.foreign.ca_cert), "--token-key", str(self.foreign.directory / "ca.key"))
        elif row == "no-host-header":
            report = self.probe(base, *local, "--no-host-header")
        elif row == "host-header-not-audience":
            report = self.probe(base, *local, "--audience-host", "hybrid.example.test")
        else:
            raise ValueError(f"unknown S3 row {row!r}")
        diag = report.get("diagnostics")
        number = int(diag.split(";", 1)[0]) if isinstance(diag, str) and diag.split(";", 1)[0].isdigit() else None
        failed: dict[str, Any] = next((s for s in report.get("steps", []) if not s.get("ok")), {})
        status = report.get("status")
        seen = re.search(r"error: \((\d{3})\)", str(failed.get("detail") or ""))
        if status is None and seen:  # the probe names the status in its WebException-style detail
            status = int(seen.group(1))
        return {"code": report.get("failure"), "status": status, "diagnostics": number,
                "fix": failed.get("fix"), "detail": failed.get("detail")}


def run(rows: list[Row], workdir: Path) -> None:
    with Programs(workdir) as progs:
        lab = _S3(progs)
        for row in rows:
            row.measured = lab.measure(row.case["row"])
