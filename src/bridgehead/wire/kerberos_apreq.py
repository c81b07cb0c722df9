"""A summary of a Kerberos AP-REQ (RFC 4120 §5.5.1) inside a GSS token (RFC 4121 §4.1).

pyspnego's ``spnego._kerberos`` parses the ASN.1; this module lifts out what an admin
needs — realm, service principal, ticket and authenticator encryption types, key version,
AP options — and never the encrypted parts. Malformed input raises
:class:`KerberosDecodeError` (a ``ValueError``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridgehead.wire.pyspnego_private import KerberosV5Msg, KrbApReq, unpack_asn1

__all__ = ["ApReqSummary", "KerberosDecodeError", "decode_gss_krb5"]

TOK_ID_AP_REQ = b"\x01\x00"  # RFC 4121 §4.1 TOK_ID for KRB_AP_REQ


class KerberosDecodeError(ValueError):
    """Not a Kerberos AP-REQ."""


@dataclass(frozen=True)
class ApReqSummary:
    realm: str
    spn: str
    name_type: str
    ticket_enctype: str
    ticket_kvno: int | None
    authenticator_enctype: str
    ap_options: list[str]

    def as_dict(self) -> dict[str, object]:
        return {
            "realm": self.realm,
            "spn": self.spn,
            "name_type": self.name_type,
            "ticket_enctype": self.ticket_enctype,
            "ticket_kvno": self.ticket_kvno,
            "authenticator_enctype": self.authenticator_enctype,
            "ap_options": self.ap_options,
        }


def decode_gss_krb5(token: bytes) -> ApReqSummary:
    """Decode a GSS Kerberos initial token ([APPLICATION 0] OID TOK_ID AP-REQ) or a bare AP-REQ."""
    try:
        body = token
        outer, _ = unpack_asn1(token)
        if outer.tag_class == 1 and outer.tag_number == 0:
            _oid, rest = unpack_asn1(outer.b_data)
            if not rest.startswith(TOK_ID_AP_REQ):
                raise KerberosDecodeError("GSS Kerberos token is not an AP-REQ (TOK_ID != 01 00)")
            body = rest[2:]
        msg = KerberosV5Msg.unpack(unpack_asn1(body)[0])
    except KerberosDecodeError:
        raise
    except Exception as exc:
        raise KerberosDecodeError(f"malformed Kerberos token: {exc}") from None
    if not isinstance(msg, KrbApReq):
        raise KerberosDecodeError(f"Kerberos message is {type(msg).__name__}, not an AP-REQ")
    ticket = msg.ticket
    sname = ticket.sname
    return ApReqSummary(
        realm=_text(ticket.realm),
        spn="/".join(_text(part) for part in sname.value),
        name_type=str(getattr(sname.name_type, "name", sname.name_type)),
        ticket_enctype=_enctype(ticket.enc_part.etype),
        ticket_kvno=ticket.enc_part.kvno,
        authenticator_enctype=_enctype(msg.authenticator.etype),
        ap_options=[flag.name or hex(flag.value) for flag in type(msg.ap_options) if flag in msg.ap_options],
    )


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _enctype(value: object) -> str:
    name = getattr(value, "name", None)
    number = int(value) if isinstance(value, int) else None
    return f"{name} ({number})" if name and number is not None else str(value)
