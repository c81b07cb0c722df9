"""S4 measured: device certificates at the edge, Kerberos constrained delegation to the backend (seed 004).

Topology on loopback: curl holding a device certificate (UPN ``alice@EXAMPLE.TEST`` in the SAN)
→ ``bridgehead reverse`` (listener: client certificate required, trust list = the company CA,
CRL with ``max_age`` = 2 s, fail closed; route ``identity = "kerberos"``: the certificate is
mapped to the user and S4U2Self + S4U2Proxy get a ticket to the backend's SPN) → re-encrypted to
``bridgehead backend --auth negotiate --keytab`` (the IIS stand-in accepting only Negotiate).
The KDC is a real Heimdal KDC (:mod:`bridgehead.runtime.lab.kdc`).

One reverse process per delegation case, so no ticket cache is shared between cases:

* ``allowed`` — ``HTTP/proxy`` (protocol transition + ``HTTP/backend`` in its delegation list);
* ``spn-not-in-list`` — the same proxy, the route's backend is ``other.example.test`` (SPN
  ``HTTP/other``, not in the list; the address is the same backend);
* ``no-protocol-transition`` — ``HTTP/notrust`` (list, but not trusted for delegation);
* ``kdc-down`` — ``HTTP/proxy`` with a krb5.conf naming a second KDC (same database) that is
  stopped after the proxy has started.

Device certificates: ``good``, ``other-ca`` (another CA, not in the trust list), ``expired``, and
``revoked`` — a good certificate that is first used, then added to the CRL with ``bridgehead pki``'s
revoke; measured: the status before, and how many seconds after the revocation the same request
was refused. Measured per row: curl's status, the page's ``X-Bridgehead-Code`` and
``X-Bridgehead-TMG-Status``, the user the backend saw, and whether the KDC logged any request
for it (the KDC's own log).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bridgehead.core.lab.model import Row
from bridgehead.core.lab.truth import S4_MAX_AGE
from bridgehead.runtime.lab.kdc import LabRealm, host, spn
from bridgehead.runtime.lab.pki import Issued, LabPki
from bridgehead.runtime.lab.procs import (
    MissingComponent,
    Programs,
    bridgehead_argv,
    clean_env,
    find_program,
    free_port,
)

EDGE = "mail.example.test"
UPN = "alice@EXAMPLE.TEST"
# delegation case → (proxy principal's host, backend host, uses the KDC that goes down)
DELEGATIONS = {"allowed": ("proxy", "backend", False), "spn-not-in-list": ("proxy", "other", False),
               "no-protocol-transition": ("notrust", "backend", False), "kdc-down": ("proxy", "backend", True)}
POLL = 0.2  # seconds between requests while waiting for a revocation to bite


class _S4:
    def __init__(self, progs: Programs, delegations: list[str]) -> None:
        self.progs = progs
        self.dir = progs.workdir
        self.curl = find_program("curl")
        if importlib.util.find_spec("gssapi") is None:
            raise MissingComponent("python-gssapi not found: install bridgehead with its kerberos extra "
                                   "(pip install 'bridgehead[kerberos]', needs libkrb5-dev), "
                                   "or bash scripts/setup.sh --dev")
        self.realm = LabRealm.create(self.dir / "realm")
        self.pki = LabPki.init(self.dir / "pki", "S4 Company Device CA")
        self.other = LabPki.init(self.dir / "other-ca", "S4 Other CA")
        self.edge = self.pki.server([EDGE, "127.0.0.1"], file="edge")
        backend_cert = self.pki.server([host("backend"), host("other"), "127.0.0.1"], file="backend")
        self.devices: dict[str, Issued] = {
            "good": self.pki.client("alice-good", upn=UPN),
            "other-ca": self.other.client("alice-other-ca", upn=UPN),
            "expired": self.pki.client("alice-expired", upn=UPN, days=-1),
            "revoked": self.pki.client("alice-revoked", upn=UPN),
        }
        self.realm.start(self.progs)
        env = {**os.environ, **self.realm.env(), "KRB5CCNAME": "MEMORY:lab-backend"}
        self.backend_port = free_port()
        argv = [*bridgehead_argv(), "backend", "--listen", f"127.0.0.1:{self.backend_port}",
                "--cert", str(backend_cert.chain), "--key", str(backend_cert.key),
                "--auth", "negotiate", "--keytab", str(self.realm.keytab("backend"))]
        backend = self.progs.start("backend", argv, env=env)  # waited for below, with the proxies
        self.doomed_kdc: Any = None
        if "kdc-down" in delegations:
            self.doomed_kdc = self._second_kdc()
        self.proxies: dict[str, int] = {}
        started = [(d, *self._start_reverse(d)) for d in delegations]
        for label, port, proc in [("backend", self.backend_port, backend),
                                  *((f"reverse-{d}", p, pr) for d, p, pr in started)]:
            self.progs.wait_port(proc, port, self.dir / f"{label}.log", 30.0)
        self.proxies = {d: p for d, p, _ in started}
        if self.doomed_kdc is not None:
            self.progs.stop(self.doomed_kdc)  # the proxy of ``kdc-down`` has started; now its KDC is gone

    # ---- topology -----------------------------------------------------------------------------------
    def _second_kdc(self) -> Any:
        """Another KDC process on the same database, its own port, config and log (``kdc-down``'s)."""
        port = free_port()
        text = self.realm.conf.read_text().replace(f"127.0.0.1:{self.realm.port}", f"127.0.0.1:{port}")
        text = text.replace(f"FILE:{self.realm.directory}/kdc.log", f"FILE:{self.realm.directory}/kdc-down.log")
        self.down_conf = self.realm.directory / "krb5-down.conf"
        self.down_conf.write_text(text)
        argv = [find_program("kdc"), "-c", str(self.down_conf), "--addresses=127.0.0.1", f"--ports={port}"]
        return self.progs.start("kdc-down", argv, port=port, timeout=10,
                                env={**os.environ, **self.realm.env(), "KRB5_CONFIG": str(self.down_conf)})

    def _start_reverse(self, delegation: str) -> tuple[int, Any]:
        principal, backend, down = DELEGATIONS[delegation]
        port = free_port()
        config = self.dir / f"reverse-{delegation}.toml"
        config.write_text(
            f'state_dir = "{self.dir}/reverse-state-{delegation}"\n'
            f'access_log = "{self.dir}/reverse-{delegation}.access.log"\n'
            f'[[listener]]\nname = "edge"\nlisten = "127.0.0.1:{port}"\n'
            f'certificates = [{{ cert = "{self.edge.chain}", key = "{self.edge.key}" }}]\n'
            f'client_ca = ["{self.pki.ca_cert}"]\n'
            f'revocation = {{ crl = ["{self.pki.crl}"], max_age = "{S4_MAX_AGE}s", fail = "closed" }}\n'
            f'restrictions = {{ eku_client_auth = true }}\n'
            f'identity_from = ["upn", "email", "cn"]\n'
            f'[[route]]\nname = "activesync"\nlistener = "edge"\nhosts = ["{EDGE}"]\nmode = "reencrypt"\n'
            f'backend = "https://{host(backend)}:{self.backend_port}"\n'
            f'backend_address = "127.0.0.1:{self.backend_port}"\n'
            f'backend_ca = "{self.pki.ca_cert}"\nclient_certificate = "required"\nidentity = "kerberos"\n'
            f'[route.kerberos]\nprincipal = "{spn(principal)}"\nkeytab = "{self.realm.keytab(principal)}"\n'
            f'spn = "HTTP/{{backend_host}}"\nuser_mapping = ["upn-san"]\nkdc_timeout = 3\n')
        env = {**os.environ, **self.realm.env(), "KRB5CCNAME": f"MEMORY:lab-{delegation}"}
        if down:
            env["KRB5_CONFIG"] = str(self.down_conf)
        proc = self.progs.start(f"reverse-{delegation}", [*bridgehead_argv(), "reverse", "--config", str(config)],
                                env=env)
        return port, proc

    # ---- the client ---------------------------------------------------------------------------------
    def get(self, delegation: str, cert: str) -> dict[str, Any]:
        port = self.proxies[delegation]
        device = self.devices[cert]
        heads = self.dir / "curl-headers.txt"
        argv = [self.curl, "-sS", "--max-time", "20", "--noproxy", "*", "--cacert", str(self.pki.ca_cert),
                "--cert", str(device.cert), "--key", str(device.key), "--resolve", f"{EDGE}:{port}:127.0.0.1",
                "-D", str(heads), "-w", "\n%{http_code}", f"https://{EDGE}:{port}/Microsoft-Server-ActiveSync"]
        self.realm.mark()
        r = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=40)
        body, _, code = r.stdout.rpartition("\n")
        headers: dict[str, str] = {}
        for line in (heads.read_bytes().decode(errors="replace") if heads.exists() else "").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(code or 0)
        user = None
        if status == 200:
            try:
                user = json.loads(body).get("user")
            except ValueError:
                user = None
        tmg = headers.get("x-bridgehead-tmg-status")
        return {"status": status, "code": headers.get("x-bridgehead-code"),
                "tmg": int(tmg) if tmg and tmg.isdigit() else None, "user": user,
                "kdc_asked": self.realm.requests_since_mark() > 0,
                **({"curl_error": r.stderr.strip()[-300:]} if status == 0 else {})}

    # ---- revocation ---------------------------------------------------------------------------------
    def revoke_and_wait(self, rows: list[Row]) -> None:
        """Revoke the device, then request through each row's proxy until refused (bounded)."""
        self.pki.revoke("alice-revoked")
        revoked_at = time.monotonic()
        deadline = revoked_at + S4_MAX_AGE + 10
        pending = list(rows)
        while pending and time.monotonic() < deadline:
            for row in list(pending):
                got = self.get(row.case["delegation"], "revoked")
                if got["code"] == "edge-client-cert-revoked":
                    elapsed = round(time.monotonic() - revoked_at, 2)
                    # within max_age plus one CRL read and one request on a busy machine
                    row.measured = {**(row.measured or {}), **got, "refused_after_s": elapsed,
                                    "refused_within_max_age": elapsed <= S4_MAX_AGE + 1.5}
                    pending.remove(row)
            time.sleep(POLL)
        for row in pending:
            row.measured = {**(row.measured or {}), **self.get(row.case["delegation"], "revoked"),
                            "refused_within_max_age": False}


def run(rows: list[Row], workdir: Path) -> None:
    """Measure ``rows`` of S4 (fills ``row.measured``)."""
    delegations = [d for d in DELEGATIONS if any(r.case["delegation"] == d for r in rows)]
    with Programs(workdir) as progs:
        lab = _S4(progs, delegations)
        revoked: list[Row] = []
        for row in rows:
            got = lab.get(row.case["delegation"], row.case["cert"])
            if row.case["cert"] == "revoked":  # the device before its revocation
                row.measured = {"before": got["status"], "before_code": got["code"]}
                revoked.append(row)
            else:
                row.measured = got
        if revoked:
            lab.revoke_and_wait(revoked)
