"""The blocking GSSAPI side of delegation (python-gssapi over MIT krb5). Call it from a worker thread.

    proxy = ProxyCredentials(principal, keytab)        # AS-REQ with the keytab, TGT in a MEMORY ccache
    imp = proxy.impersonate("alice@EXAMPLE.TEST")      # S4U2Self (MS-SFU §3.1.5.1.1)
    token = initiate(imp, "HTTP/backend.example.test@EXAMPLE.TEST")   # S4U2Proxy (MS-SFU §3.1.5.2) + AP-REQ

``impersonate`` uses ``mechs=[SPNEGO]``: with the default (krb5 only) a SPNEGO context fails with "SPNEGO cannot
find mechanisms to negotiate". The impersonated credential keeps the evidence ticket and, after the first
``initiate``, the service ticket in its own memory ccache: later tokens from it cost no KDC round trip, and each
is a fresh AP-REQ (RFC 4120 §3.2.3). The KDC configuration is libkrb5's: KRB5_CONFIG (or the route's
``krb5_conf``), never the user's default ccache (every ccache here is named and in memory).
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import Any

import gssapi
import gssapi.raw

from bridgehead.wire.krb5_export import ExportedCred, ExportError, parse_export

SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")
GSSError = gssapi.raw.misc.GSSError  # what gssapi.exceptions.GSSError re-exports
_ids = itertools.count(1)
_env_lock = threading.Lock()


def use_krb5_conf(path: Path | None) -> None:
    """Point libkrb5 at ``path`` (process-wide). Refuses a second, different file."""
    if path is None:
        return
    with _env_lock:
        current = os.environ.get("KRB5_CONFIG")
        if current and Path(current) != path:
            raise ValueError(f"KRB5_CONFIG is already {current}; one process uses one krb5.conf (not {path})")
        os.environ["KRB5_CONFIG"] = str(path)


def principal_name(text: str) -> gssapi.Name:
    return gssapi.Name(text, gssapi.NameType.kerberos_principal)


class ProxyCredentials:
    """The proxy's own initiate credentials from its keytab (MIT refreshes the TGT from the keytab)."""

    def __init__(self, principal: str, keytab: Path) -> None:
        self.principal = principal
        self.keytab = keytab
        self.ccache = f"MEMORY:bridgehead-kcd-{os.getpid()}-{next(_ids)}"
        self._creds: gssapi.Credentials | None = None
        self._lock = threading.Lock()

    def get(self) -> gssapi.Credentials:
        with self._lock:
            if self._creds is None:
                creds = gssapi.Credentials(name=principal_name(self.principal), usage="initiate",
                                           store={"client_keytab": str(self.keytab), "ccache": self.ccache})
                _ = creds.lifetime  # forces the AS-REQ now, so errors surface at the "acquire" stage
                self._creds = creds
            return self._creds

    def reset(self) -> None:
        with self._lock:
            self._creds = None

    def impersonate(self, user: str) -> gssapi.Credentials:
        """S4U2Self: a ticket from ``user`` to the proxy itself (protocol transition)."""
        return self.get().impersonate(principal_name(user), usage="initiate", mechs=[SPNEGO])


def initiate(creds: gssapi.Credentials, target: str) -> bytes:
    """A SPNEGO initial token for ``target`` (``HTTP/host@REALM``); S4U2Proxy when ``creds`` are impersonated."""
    ctx = gssapi.SecurityContext(name=principal_name(target), creds=creds, usage="initiate", mech=SPNEGO)
    token = ctx.step()
    if not token:
        raise RuntimeError("GSSAPI produced no initial token")
    return bytes(token)


def lifetime(creds: gssapi.Credentials) -> int:
    value: Any = creds.lifetime
    return int(value) if value is not None else 0


def inspect(creds: gssapi.Credentials) -> ExportedCred | None:
    """Names, times and flags of the tickets in ``creds`` (keys dropped); None where the library cannot export."""
    try:
        return parse_export(bytes(gssapi.raw.export_cred(creds)))
    except (GSSError, ExportError, AttributeError, NotImplementedError):
        return None


def evidence_forwardable(imp: gssapi.Credentials, proxy_principal: str) -> bool | None:
    """Is the S4U2Self ticket (user → proxy) forwardable? (None when unknown.)"""
    info = inspect(imp)
    if info is None:
        return None
    ticket = info.ticket_to(proxy_principal)
    return ticket.forwardable if ticket is not None else None
