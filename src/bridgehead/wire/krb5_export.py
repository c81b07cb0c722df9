"""Summaries of the tickets inside an exported GSS-API credential (MIT krb5 ``gss_export_cred``).

python-gssapi's ``export_cred`` returns the mechglue token ``uint32 len | mech OID | uint32 len | token``;
a SPNEGO credential wraps the krb5 one the same way. MIT's krb5 token is JSON (src/lib/gssapi/krb5/
export_cred.c, tag ``"K5C1"``): ``["K5C1", [version, name, impersonator, ..., ccache]]`` where a memory
ccache (index 7 of the body) is ``[default principal, cred, cred, …]`` and each cred is ``[client, server,
keyblock, authtime, starttime, endtime, renew_till, is_skey, ticket_flags, addresses, ticket, second_ticket,
authdata]``.

Only names, times and flags are kept: the session keys and tickets in the token are dropped here and never
returned, so a summary is safe to log. Used to tell "not trusted for protocol transition" (the S4U2Self
evidence ticket is not forwardable, MS-SFU §3.2.5.1.2) from "SPN not in the delegation list", and to read the
KDC's clock (a TGT's authtime) for the clock-skew check.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

KRB5_OID = bytes.fromhex("2a864886f712010202")  # 1.2.840.113554.1.2.2
MAX_DEPTH = 4

# RFC 4120 §5.3 TicketFlags, as MIT's TKT_FLG_* bit values (bit 0 is the most significant)
TICKET_FLAGS: dict[str, int] = {
    "forwardable": 0x40000000, "forwarded": 0x20000000, "proxiable": 0x10000000, "proxy": 0x08000000,
    "may-postdate": 0x04000000, "postdated": 0x02000000, "invalid": 0x01000000, "renewable": 0x00800000,
    "initial": 0x00400000, "pre-authent": 0x00200000, "hw-authent": 0x00100000,
    "transited-policy-checked": 0x00080000, "ok-as-delegate": 0x00040000, "enc-pa-rep": 0x00010000,
    "anonymous": 0x00008000,
}


class ExportError(ValueError):
    """Not an exported krb5 credential this parser understands."""


@dataclass(frozen=True)
class TicketSummary:
    client: str
    server: str
    authtime: int
    starttime: int
    endtime: int
    renew_till: int
    flags: int

    @property
    def flag_names(self) -> tuple[str, ...]:
        return tuple(name for name, bit in TICKET_FLAGS.items() if self.flags & bit)

    @property
    def forwardable(self) -> bool:
        return bool(self.flags & TICKET_FLAGS["forwardable"])

    @property
    def is_tgt(self) -> bool:
        return self.server.startswith("krbtgt/")


@dataclass(frozen=True)
class ExportedCred:
    name: str | None
    impersonator: str | None
    tickets: tuple[TicketSummary, ...]

    def ticket_to(self, server: str) -> TicketSummary | None:
        for t in self.tickets:
            if t.server.lower() == server.lower():
                return t
        return None

    def tgt(self) -> TicketSummary | None:
        return next((t for t in self.tickets if t.is_tgt), None)


def _krb5_json(token: bytes, depth: int = 0) -> bytes:
    if depth > MAX_DEPTH:
        raise ExportError("exported credential nested too deeply")
    if len(token) < 8:
        raise ExportError("exported credential too short")
    (olen,) = struct.unpack(">I", token[:4])
    oid = token[4:4 + olen]
    rest = token[4 + olen:]
    if len(oid) != olen or len(rest) < 4:
        raise ExportError("exported credential truncated")
    (tlen,) = struct.unpack(">I", rest[:4])
    inner = rest[4:4 + tlen]
    if len(inner) != tlen:
        raise ExportError("exported credential truncated")
    return inner if oid == KRB5_OID else _krb5_json(inner, depth + 1)


def _princ(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[0], str):
        return value[0]
    return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_export(token: bytes) -> ExportedCred:
    """Names, times and flags of a ``gss_export_cred`` token (MIT krb5 JSON); :class:`ExportError` otherwise."""
    raw = _krb5_json(token)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ExportError("exported krb5 credential is not MIT JSON") from None
    if not (isinstance(doc, list) and len(doc) == 2 and doc[0] == "K5C1" and isinstance(doc[1], list)):
        raise ExportError("exported krb5 credential is not in MIT's K5C1 format")
    body = doc[1]
    name = _princ(body[1]) if len(body) > 1 else None
    impersonator = body[2] if len(body) > 2 and isinstance(body[2], str) else None
    # version 1: [1, name, impersonator, default_cred, iakerb, keytab, rcache, ccache, client_keytab, ...]
    ccache = body[7] if len(body) > 7 else None
    tickets: list[TicketSummary] = []
    if isinstance(ccache, list):
        for cred in ccache[1:]:
            if not (isinstance(cred, list) and len(cred) >= 9):
                continue
            client, server = _princ(cred[0]), _princ(cred[1])
            if client is None or server is None or "X-CACHECONF:" in server:
                continue
            tickets.append(TicketSummary(client, server, _int(cred[3]), _int(cred[4]), _int(cred[5]),
                                         _int(cred[6]), _int(cred[8])))
    return ExportedCred(name, impersonator, tuple(tickets))
