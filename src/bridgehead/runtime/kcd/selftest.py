"""``bridgehead kcd test``: TMG's "Test" button for a delegating route, one check after the other.

Checks, in order (a failed check skips the ones that depend on it):

1. ``settings``   the route's kerberos table parses; the SPN the template gives (+ hints: https/, short name)
2. ``keytab``     readable, a keytab, holds keys for the configured principal (kvno, enctypes; mode 0600)
3. ``kdc``        a KDC of the realm (krb5.conf ``[realms]``) accepts a TCP connection
4. ``acquire``    AS-REQ with the keytab: the key matches the KDC's (stale kvno → krb-wrong-keytab)
5. ``clock``      skew between the KDC (the TGT's authtime) and this host (RFC 4120 §3.2.3: 5 minutes)
6. ``s4u2self``   the user exists and the proxy may ask for a ticket on their behalf
7. ``protocol-transition``  the S4U2Self ticket is forwardable (AD: "use any authentication protocol")
8. ``spn``        the KDC knows the SPN (the proxy's own ticket to it, no delegation involved)
9. ``s4u2proxy``  a ticket for the user to the SPN: the SPN is in the proxy's delegation list
10. ``probe``     (--probe) the backend accepts ``Authorization: Negotiate`` with that ticket, over the
   route's TLS (backend CA, SNI, the bridging certificate when the backend asks for one); a connection
   failure carries the code of the one classify step (:mod:`bridgehead.runtime.classify`)

Each failure carries a registry code, the cause for this case and the fix.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bridgehead.core.kcd.config import KerberosConfigError, KerberosSettings, parse_settings
from bridgehead.core.kcd.diagnose import Diagnosis, classify, clock_skew, short
from bridgehead.core.kcd.mapping import valid_principal
from bridgehead.core.kcd.spn import alternative_spns, render_spn, spn_principal, spn_warnings
from bridgehead.core.reverse.model import Route
from bridgehead.failures import get
from bridgehead.runtime.classify import classify as classify_exception
from bridgehead.wire.keytab import KeytabError, parse_keytab


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    code: str | None = None
    cause: str | None = None
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    route: str
    user: str
    spn: str | None
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.status in ("ok", "warn", "skip") for c in self.checks) and any(
            c.status == "ok" for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.route, "user": self.user, "spn": self.spn, "ok": self.ok,
                "checks": [asdict(c) for c in self.checks]}


def _fail(name: str, d: Diagnosis) -> Check:
    entry = get(d.code)
    return Check(name, "fail", d.summary, code=d.code, cause=f"{entry.title}. {d.summary}", fix=d.fix,
                 data={"library": d.detail} if d.detail else {})


def _failure(name: str, code: str, detail: str, fix: str | None = None) -> Check:
    entry = get(code)
    return Check(name, "fail", detail, code=code, cause=entry.title, fix=fix or entry.fix)


def kdcs_from_conf(conf: Path, realm: str) -> list[tuple[str, int]]:
    """``kdc = host[:port]`` lines of ``[realms] REALM = { … }`` in a krb5.conf (no DNS SRV lookup)."""
    try:
        text = conf.read_text(errors="replace")
    except OSError:
        return []
    block = re.search(rf"^\s*{re.escape(realm)}\s*=\s*\{{(.*?)\}}", text, re.M | re.S)
    out = []
    for match in re.finditer(r"^\s*kdc\s*=\s*(\S+)", block.group(1) if block else "", re.M):
        value = match.group(1).split("://")[-1]
        host, _, port = value.rpartition(":") if re.search(r":\d+$", value) else (value, "", "88")
        out.append((host.strip("[]"), int(port)))
    return out


class SelfTest:
    def __init__(self, route: Route, user: str, *, base: Path | None = None, probe: bool = False,
                 probe_path: str | None = None, timeout: float = 5.0) -> None:
        self.route = route
        self.user = user
        self.base = base
        self.probe = probe
        self.probe_path = probe_path or (route.paths[0] if route.paths else "/")
        self.timeout = timeout
        self.checks: list[Check] = []
        self.settings: KerberosSettings | None = None
        self.spn: str | None = None
        self._proxy: Any = None
        self._imp: Any = None
        self._token: bytes | None = None

    def run(self) -> Report:
        steps: list[Callable[[], bool]] = [self._settings, self._keytab, self._kdc, self._acquire, self._clock,
                                           self._s4u2self, self._transition, self._spn_known, self._s4u2proxy]
        if self.probe:
            steps.append(self._probe)
        names = ["settings", "keytab", "kdc", "acquire", "clock", "s4u2self", "protocol-transition", "spn",
                 "s4u2proxy", "probe"]
        for i, step in enumerate(steps):
            if not step():
                for name in names[i + 1:len(steps)]:
                    self.checks.append(Check(name, "skip", "not run: an earlier check failed"))
                break
        return Report(self.route.name, self.user, self.spn, self.checks)

    # -- the checks --------------------------------------------------------------------------------
    def _settings(self) -> bool:
        if self.route.identity != "kerberos":
            self.checks.append(Check("settings", "warn", f"route identity is {self.route.identity!r}, not "
                                     "'kerberos': the proxy will not delegate on this route"))
        try:
            self.settings = parse_settings(self.route.kerberos, self.base)
            spn = render_spn(self.settings.spn_template, self.route.backend.host, self.route.backend.port)
        except (KerberosConfigError, ValueError) as exc:
            self.checks.append(Check("settings", "fail", str(exc), fix="Fix the route's [route.kerberos] table."))
            return False
        if not valid_principal(self.user):
            self.checks.append(_failure("settings", "kcd-user-unmapped",
                                        f"--user {self.user!r} is not a user principal name@REALM"))
            return False
        self.spn = spn_principal(spn, self.settings.realm)
        hints = spn_warnings(spn, self.route.backend.host)
        self.checks.append(Check("settings", "warn" if hints else "ok",
                                 f"principal {self.settings.principal}, SPN {self.spn}"
                                 + (f"; {'; '.join(hints)}" if hints else ""),
                                 data={"principal": self.settings.principal, "spn": self.spn,
                                       "keytab": str(self.settings.keytab)}))
        if self.settings.krb5_conf is not None:
            os.environ["KRB5_CONFIG"] = str(self.settings.krb5_conf)
        return True

    def _keytab(self) -> bool:
        assert self.settings is not None
        path = self.settings.keytab
        try:
            data = path.read_bytes()
            mode = path.stat().st_mode
            entries = parse_keytab(data)
        except OSError as exc:
            self.checks.append(_failure("keytab", "kcd-keytab-unusable", f"{path}: {exc.strerror or exc}"))
            return False
        except KeytabError as exc:
            self.checks.append(_failure("keytab", "kcd-keytab-unusable", f"{path}: {exc}"))
            return False
        mine = [e for e in entries if e.principal.lower() == self.settings.principal.lower()]
        if not mine:
            held = sorted({e.principal for e in entries}) or ["(no entries)"]
            detail = f"{path} holds no key for {self.settings.principal} (holds: {', '.join(held)})"
            self.checks.append(_failure("keytab", "kcd-keytab-unusable", detail))
            return False
        kvno = max(e.kvno for e in mine)
        enctypes = sorted({e.enctype_name for e in mine if e.kvno == kvno})
        loose = bool(mode & (stat.S_IRWXG | stat.S_IRWXO))
        detail = f"{len(mine)} key(s) for {self.settings.principal}, kvno {kvno}, {', '.join(enctypes)}"
        self.checks.append(Check("keytab", "warn" if loose else "ok",
                                 detail + (f"; mode {stat.S_IMODE(mode):04o}: make it 0600" if loose else ""),
                                 data={"kvno": kvno, "enctypes": enctypes}))
        return True

    def _kdc(self) -> bool:
        assert self.settings is not None
        conf = Path(os.environ.get("KRB5_CONFIG", "/etc/krb5.conf").split(":")[0])
        kdcs = kdcs_from_conf(conf, self.settings.realm)
        if not kdcs:
            self.checks.append(Check("kdc", "warn", f"no kdc entry for {self.settings.realm} in {conf}: "
                                     "libkrb5 will try DNS SRV records"))
            return True
        errors = []
        for host, port in kdcs:
            t0 = time.perf_counter()
            try:
                with socket.create_connection((host, port), timeout=self.timeout):
                    ms = (time.perf_counter() - t0) * 1000
                    self.checks.append(Check("kdc", "ok", f"{host}:{port} accepts TCP ({ms:.1f} ms)",
                                             data={"kdc": f"{host}:{port}"}))
                    return True
            except OSError as exc:
                errors.append(f"{host}:{port}: {exc.strerror or exc}")
        self.checks.append(_fail("kdc", classify("Cannot contact any KDC for requested realm", "acquire")))
        self.checks[-1].detail = f"no KDC of {self.settings.realm} answers ({'; '.join(errors)})"
        return False

    def _acquire(self) -> bool:
        assert self.settings is not None
        from bridgehead.runtime.kcd import gss

        self._proxy = gss.ProxyCredentials(self.settings.principal, self.settings.keytab)
        try:
            creds = self._proxy.get()
        except gss.GSSError as exc:
            self.checks.append(_fail("acquire", classify(str(exc), "acquire", principal=self.settings.principal)))
            return False
        self._acquired_at = time.time()
        self.checks.append(Check("acquire", "ok", f"TGT for {self.settings.principal} from the keytab, "
                                 f"valid {gss.lifetime(creds)} s"))
        return True

    def _clock(self) -> bool:
        from bridgehead.runtime.kcd import gss

        info = gss.inspect(self._proxy.get())
        tgt = info.tgt() if info else None
        if tgt is None or not tgt.authtime:
            self.checks.append(Check("clock", "skip", "cannot read the KDC's time from the TGT"))
            return True
        skew, ok = clock_skew(tgt.authtime, self._acquired_at)
        data = {"skew_seconds": round(skew, 1)}
        if not ok:
            self.checks.append(_fail("clock", classify("Clock skew too great", "acquire")))
            self.checks[-1].detail = f"KDC clock differs by {skew:+.0f} s (allowed ±300 s)"
            self.checks[-1].data.update(data)
            return False
        self.checks.append(Check("clock", "warn" if abs(skew) > 60 else "ok", f"KDC clock {skew:+.0f} s", data=data))
        return True

    def _s4u2self(self) -> bool:
        assert self.settings is not None
        from bridgehead.runtime.kcd import gss

        try:
            self._imp = self._proxy.impersonate(self.user)
        except gss.GSSError as exc:
            self.checks.append(_fail("s4u2self", classify(str(exc), "s4u2self", user=self.user, spn=self.spn or "",
                                                          principal=self.settings.principal)))
            return False
        self.checks.append(Check("s4u2self", "ok", f"ticket from {self.user} to {self.settings.principal}"))
        return True

    def _transition(self) -> bool:
        assert self.settings is not None
        from bridgehead.runtime.kcd import gss

        forwardable = gss.evidence_forwardable(self._imp, self.settings.principal)
        if forwardable is None:
            self.checks.append(Check("protocol-transition", "skip", "the library cannot show the ticket's flags; "
                                     "the s4u2proxy check will tell"))
            return True
        if not forwardable:
            self.checks.append(_fail("protocol-transition", classify(
                "KDC can't fulfill requested option", "s4u2proxy", spn=self.spn or "",
                principal=self.settings.principal, evidence_forwardable=False)))
            self.checks[-1].detail = (f"the S4U2Self ticket is not forwardable: {self.settings.principal} is not "
                                      "trusted for protocol transition, S4U2Proxy will fail with KDC_ERR_BADOPTION")
            return False
        self.checks.append(Check("protocol-transition", "ok", "S4U2Self ticket is forwardable"))
        return True

    def _spn_known(self) -> bool:
        assert self.settings is not None and self.spn is not None
        from bridgehead.runtime.kcd import gss

        try:
            gss.initiate(self._proxy.get(), self.spn)
        except gss.GSSError as exc:
            d = classify(str(exc), "spn", spn=self.spn, principal=self.settings.principal)
            check = _fail("spn", d)
            if d.code == "krb-principal-unknown":
                alts = alternative_spns(self.spn.split("@")[0], self.route.backend.host)
                check.fix = (d.fix + (f" Forms to try: {', '.join(alts)}." if alts else ""))
            self.checks.append(check)
            return False
        self.checks.append(Check("spn", "ok", f"the KDC knows {self.spn}"))
        return True

    def _s4u2proxy(self) -> bool:
        assert self.settings is not None and self.spn is not None
        from bridgehead.runtime.kcd import gss

        try:
            self._token = gss.initiate(self._imp, self.spn)
        except gss.GSSError as exc:
            forwardable = gss.evidence_forwardable(self._imp, self.settings.principal)
            self.checks.append(_fail("s4u2proxy", classify(str(exc), "s4u2proxy", spn=self.spn, user=self.user,
                                                           principal=self.settings.principal,
                                                           evidence_forwardable=forwardable)))
            return False
        self.checks.append(Check("s4u2proxy", "ok", f"ticket for {self.user} to {self.spn} "
                                 f"({len(self._token)}-byte SPNEGO token)"))
        return True

    def _probe(self) -> bool:
        assert self._token is not None
        status, challenge, err = probe_backend(self.route, self.probe_path, self._token, self.timeout)
        host, port = self.route.backend.connect_to
        where = f"{self.route.backend.url}{self.probe_path} (at {host}:{port})"
        if err is not None:
            code, detail = err
            self.checks.append(_failure("probe", code, f"{where}: the backend could not be reached: {detail}"))
            return False
        if status in (401, 403):
            self.checks.append(_failure(
                "probe", "kcd-delegated-401-403",
                f"{where} answered {status} to the delegated ticket (WWW-Authenticate: {challenge or '-'})",
                fix="The ticket was issued, so the backend refused it: its keytab is stale or the SPN is registered "
                    "on another account (krb-spn-duplicate, krb-wrong-keytab), or Windows Authentication has no "
                    "Negotiate provider. The backend's log names the GSSAPI error."))
            return False
        self.checks.append(Check("probe", "ok" if status < 400 else "warn", f"{where} answered {status}",
                                 data={"status": status}))
        return status < 400


def probe_backend(route: Route, path: str, token: bytes, timeout: float
                  ) -> tuple[int, str | None, tuple[str, str] | None]:
    """One GET with the delegated token to the route's backend (pinned address, SNI = backend host,
    the bridging certificate); a failure is ``(registry code, detail)``."""
    from bridgehead.runtime.tls import client_context

    host, port = route.backend.connect_to
    conn: http.client.HTTPConnection
    bridging = route.bridging_certificate
    try:
        if route.backend.scheme == "https":
            ctx = client_context(cafiles=route.backend_ca,
                                 client_cert=(bridging.cert, bridging.key) if bridging else None)
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
            raw = socket.create_connection((host, port), timeout=timeout)
            conn.sock = ctx.wrap_socket(raw, server_hostname=route.backend.host)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", path, headers={"Host": route.backend.host,
                                           "Authorization": "Negotiate " + base64.b64encode(token).decode()})
        resp = conn.getresponse()
        resp.read(65536)
        challenge = resp.getheader("WWW-Authenticate")
        conn.close()
        return resp.status, (challenge.split()[0] if challenge else None), None  # the scheme word, no token
    except OSError as exc:
        code, detail = classify_exception(exc)
        return 0, None, (code, short(detail))
    except http.client.HTTPException as exc:
        return 0, None, ("upstream-bad-response", short(f"{type(exc).__name__}: {exc}"))
