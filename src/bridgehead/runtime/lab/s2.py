"""S2 measured: NTLM with Extended Protection through every kind of path (seed 002).

Topology on loopback: ``requests`` + ``requests-ntlm`` (the NTLM client that sends channel
bindings, or with ``send_cbt=False`` one that does not) → [path] → ``bridgehead backend`` (the
IIS/Exchange stand-in) with Extended Protection None / Allow / Require on
``POST /EWS/mrsproxy.svc``. Paths: direct; ``bridgehead reverse`` in passthrough (by SNI),
re-encrypting with the backend's own certificate, re-encrypting with another certificate, and
offloading to a plain-HTTP backend. The client sends no MRS payload, so a logon that works
answers 400 (the seed's "Off → 400"). Measured: the status the client got and the backend's
W3C log line (``sc-status sc-substatus sc-win32-status``) for that request.

Offloading with Allow/Require is not run against a backend (Extended Protection needs TLS at the
server, and Exchange does not support offloading): the row measures what ``bridgehead lint``
says about that configuration.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
import requests_ntlm

from bridgehead.core.lab.model import Row
from bridgehead.runtime.lab import origins
from bridgehead.runtime.lab.pki import LabPki
from bridgehead.runtime.lab.procs import Programs, bridgehead_argv, clean_env, free_port

USER, PASSWORD = "CORP\\alice", "Lab-Passw0rd!"
HOST = "localhost"
MODES = {"passthrough": "passthrough", "same-cert-reencrypt": "reencrypt", "other-cert-reencrypt": "reencrypt",
         "offload": "offload"}


class _S2:
    def __init__(self, progs: Programs) -> None:
        self.progs = progs
        self.dir = progs.workdir
        self.internal = LabPki.init(self.dir / "internal", "S2 Internal CA")
        self.public = LabPki.init(self.dir / "public", "S2 Public CA")
        self.backend_cert = self.internal.server([HOST, "127.0.0.1", "mrs.example.test"], file="backend")
        self.edge_cert = self.public.server([HOST, "127.0.0.1", "mrs.example.test"], file="edge")
        self.trust = self.dir / "trust.pem"
        self.trust.write_bytes(self.internal.ca_cert.read_bytes() + self.public.ca_cert.read_bytes())
        self.users = self.dir / "users.txt"
        self.users.write_text(f"CORP:alice:{PASSWORD}\n")
        os.chmod(self.users, 0o600)
        self.backends: dict[str, tuple[int, Path]] = {}
        self.proxies: dict[tuple[str, str], int] = {}

    def backend(self, ep: str, tls: bool = True) -> tuple[int, Path]:
        key = ep if tls else f"{ep}-http"
        if key not in self.backends:
            w3c = self.dir / f"u_ex-{key}.log"
            args = ["--users", str(self.users), "--ep", ep, "--auth", "negotiate,ntlm", "--w3c-log", str(w3c)]
            if tls:
                args += ["--cert", str(self.backend_cert.chain), "--key", str(self.backend_cert.key)]
            self.backends[key] = (origins.bh_backend(self.progs, f"backend-{key}", *args), w3c)
        return self.backends[key]

    def config_text(self, ep: str, path: str, port: int, backend_port: int) -> str:
        cert = self.backend_cert if path == "same-cert-reencrypt" else self.edge_cert
        mode = MODES[path]
        scheme = "http" if mode == "offload" else "https"
        paths = "" if mode == "passthrough" else 'paths = ["/EWS/"]\n'
        ca = "" if mode == "offload" else f'backend_ca = "{self.internal.ca_cert}"\n'
        return (f'state_dir = "{self.dir}/reverse-state-{ep}-{path}"\n'
                f'access_log = "{self.dir}/reverse-{ep}-{path}.access.log"\n'
                f'[[listener]]\nname = "edge"\nlisten = "127.0.0.1:{port}"\n'
                f'certificates = [{{ cert = "{cert.chain}", key = "{cert.key}" }}]\n'
                f'client_ca = ["{self.public.ca_cert}"]\n'
                f'[[route]]\nname = "mrs"\nhosts = ["{HOST}"]\n{paths}mode = "{mode}"\n'
                f'backend = "{scheme}://{HOST}:{backend_port}"\n{ca}'
                f'backend_extended_protection = "{ep}"\n')

    def proxy(self, ep: str, path: str) -> int:
        if (ep, path) not in self.proxies:
            backend_port, _ = self.backend(ep, tls=path != "offload")
            port = free_port()
            config = self.dir / f"reverse-{ep}-{path}.toml"
            config.write_text(self.config_text(ep, path, port, backend_port))
            self.progs.start(f"reverse-{ep}-{path}", [*bridgehead_argv(), "reverse", "--config", str(config)],
                             port=port)
            self.proxies[(ep, path)] = port
        return self.proxies[(ep, path)]

    def lint(self, ep: str, path: str) -> list[str]:
        config = self.dir / f"lint-{ep}-{path}.toml"
        config.write_text(self.config_text(ep, path, 8443, 8080))
        r = subprocess.run([*bridgehead_argv(), "lint", "--config", str(config), "--json"], capture_output=True,
                           text=True, timeout=60, env=clean_env())
        report = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {}
        return [f["code"] for f in report.get("findings", []) if f.get("severity") == "error" and f.get("code")]

    @staticmethod
    def last_w3c(w3c: Path, count_before: int, timeout: float = 3.0) -> str | None:
        """``sc-status sc-substatus sc-win32-status`` of the newest POST logged after ``count_before``
        (waits until the log has stopped growing for 0.2 s, at most ``timeout``)."""
        deadline = time.monotonic() + timeout
        seen, stable_since = -1, time.monotonic()
        posts: list[list[str]] = []
        while time.monotonic() < deadline:
            lines = [x for x in (w3c.read_text().splitlines() if w3c.exists() else []) if not x.startswith("#")]
            posts = [x.split(" ") for x in lines[count_before:] if " POST " in x]
            if len(posts) != seen:
                seen, stable_since = len(posts), time.monotonic()
            elif posts and time.monotonic() - stable_since > 0.2:
                break
            time.sleep(0.05)
        return " ".join(posts[-1][11:14]) if posts else None

    @staticmethod
    def w3c_len(w3c: Path) -> int:
        return len([x for x in w3c.read_text().splitlines() if not x.startswith("#")]) if w3c.exists() else 0

    def measure(self, ep: str, path: str, client: str) -> dict[str, Any]:
        if path == "offload" and ep != "none":
            codes = self.lint(ep, path)
            return {"status": None, "code": "route-ep-cert-mismatch" if "route-ep-cert-mismatch" in codes
                    else (codes[0] if codes else None), "lint": codes}
        backend_port, w3c = self.backend(ep, tls=path != "offload")
        port = backend_port if path == "direct" else self.proxy(ep, path)
        before = self.w3c_len(w3c)
        with requests.Session() as s:
            s.trust_env = False
            r = s.post(f"https://{HOST}:{port}/EWS/mrsproxy.svc", data=b"not an MRS payload",
                       auth=requests_ntlm.HttpNtlmAuth(USER, PASSWORD, send_cbt=client == "cbt"),
                       verify=str(self.trust), timeout=20)
        line = self.last_w3c(w3c, before)
        code = None
        if r.status_code == 400:
            try:
                code = r.json().get("code")
            except ValueError:
                code = None
        elif r.status_code == 401 and line == "401 1 3221226331":
            code = "ntlm-bad-bindings"
        return {"status": r.status_code, "backend": line, "code": code,
                "x_bridgehead_code": r.headers.get("X-Bridgehead-Code")}


def run(rows: list[Row], workdir: Path) -> None:
    with Programs(workdir) as progs:
        lab = _S2(progs)
        for row in rows:
            row.measured = lab.measure(row.case["ep"], row.case["path"], row.case["client"])
