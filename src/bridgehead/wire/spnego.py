"""SPNEGO (RFC 4178, MS-SPNG) tokens as HTTP Negotiate carries them (RFC 4559).

pyspnego's ``spnego._spnego`` parses and packs NegTokenInit / NegTokenResp; this module
turns any ``Negotiate`` token into one :class:`GssToken` (a SPNEGO init or response, a raw
NTLM message, or a raw Kerberos GSS token) and builds the acceptor's NegTokenResp.
Malformed input raises :class:`SpnegoDecodeError` (a ``ValueError``) only.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridgehead.wire.pyspnego_private import (
    InitialContextToken,
    NegState,
    NegTokenInit,
    NegTokenResp,
    pack_mech_type_list,
    unpack_asn1,
)

__all__ = [
    "KERBEROS_OIDS",
    "MECH_NAMES",
    "NTLM_OID",
    "SPNEGO_OID",
    "GssToken",
    "SpnegoDecodeError",
    "decode",
    "mech_list_bytes",
    "neg_token_resp",
]

SPNEGO_OID = "1.3.6.1.5.5.2"
NTLM_OID = "1.3.6.1.4.1.311.2.2.10"
KRB5_OID = "1.2.840.113554.1.2.2"
MS_KRB5_OID = "1.2.840.48018.1.2.2"  # the historical "wrong" Kerberos OID Windows still sends first
KERBEROS_OIDS = (KRB5_OID, MS_KRB5_OID, "1.2.840.113554.1.2.2.3")
MECH_NAMES = {
    SPNEGO_OID: "SPNEGO",
    NTLM_OID: "NTLM",
    KRB5_OID: "Kerberos",
    MS_KRB5_OID: "MS-Kerberos",
    "1.2.840.113554.1.2.2.3": "Kerberos user-to-user",
    "1.3.6.1.4.1.311.2.2.30": "NEGOEX",
}
NEG_STATES = {0: "accept-completed", 1: "accept-incomplete", 2: "reject", 3: "request-mic"}


class SpnegoDecodeError(ValueError):
    """The bytes are not a token HTTP Negotiate can carry."""


@dataclass
class GssToken:
    """One Negotiate token. ``kind``: ``spnego-init``, ``spnego-resp``, ``ntlm`` or ``kerberos``."""

    kind: str
    raw: bytes
    mech_types: tuple[str, ...] = ()
    mech_token: bytes | None = None
    mech_list_mic: bytes | None = None
    neg_state: int | None = None
    supported_mech: str | None = None
    this_mech: str | None = None  # for a bare GSS InitialContextToken (Kerberos)

    @property
    def mech_names(self) -> list[str]:
        return [MECH_NAMES.get(oid, oid) for oid in self.mech_types]

    @property
    def neg_state_name(self) -> str | None:
        return NEG_STATES.get(self.neg_state, str(self.neg_state)) if self.neg_state is not None else None

    def inner_mech(self) -> str | None:
        """The mechanism of the inner token: the first mech type (init), or the supported one."""
        if self.kind == "ntlm":
            return NTLM_OID
        if self.kind == "kerberos":
            return self.this_mech
        if self.kind == "spnego-init" and self.mech_types:
            return self.mech_types[0]
        return self.supported_mech


def decode(data: bytes) -> GssToken:
    """Classify and parse one Negotiate token."""
    if data.startswith(b"NTLMSSP\x00"):
        return GssToken("ntlm", data, mech_token=data)
    if not data:
        raise SpnegoDecodeError("empty token")
    try:
        return _decode_asn1(data)
    except SpnegoDecodeError:
        raise
    except Exception as exc:  # pyspnego's ASN.1 reader raises ValueError, IndexError, struct.error ...
        raise SpnegoDecodeError(f"malformed SPNEGO/GSS token: {exc}") from None


def _decode_asn1(data: bytes) -> GssToken:
    outer, rest = unpack_asn1(data)
    if rest:
        raise SpnegoDecodeError(f"{len(rest)} bytes after the token")
    if outer.tag_class == 1 and outer.tag_number == 0:  # [APPLICATION 0] InitialContextToken, RFC 2743 §3.1
        ict = InitialContextToken.unpack(outer.b_data)
        if ict.this_mech == SPNEGO_OID:
            inner, _ = unpack_asn1(ict.inner_context_token)
            if inner.tag_class == 2 and inner.tag_number == 0:
                return _init(data, NegTokenInit.unpack(inner.b_data))
            raise SpnegoDecodeError("SPNEGO InitialContextToken without a NegTokenInit")
        if ict.this_mech in KERBEROS_OIDS:
            return GssToken("kerberos", data, mech_token=data, this_mech=ict.this_mech)
        raise SpnegoDecodeError(f"GSS token for an unsupported mechanism {ict.this_mech}")
    if outer.tag_class == 2 and outer.tag_number == 0:  # bare NegTokenInit (RFC 4178 §4.2)
        return _init(data, NegTokenInit.unpack(outer.b_data))
    if outer.tag_class == 2 and outer.tag_number == 1:  # NegTokenResp
        resp = NegTokenResp.unpack(outer.b_data)
        return GssToken(
            "spnego-resp", data, mech_token=resp.response_token, mech_list_mic=resp.mech_list_mic,
            neg_state=int(resp.neg_state) if resp.neg_state is not None else None,
            supported_mech=resp.supported_mech,
        )
    raise SpnegoDecodeError("not a SPNEGO, Kerberos or NTLM token")


def _init(data: bytes, init: NegTokenInit) -> GssToken:
    return GssToken(
        "spnego-init", data, mech_types=tuple(init.mech_types), mech_token=init.mech_token,
        mech_list_mic=init.mech_list_mic,
    )


def mech_list_bytes(mech_types: tuple[str, ...]) -> bytes:
    """DER MechTypeList, the input of mechListMIC (RFC 4178 §5)."""
    return bytes(pack_mech_type_list(list(mech_types)))


def neg_token_resp(
    neg_state: int | None,
    *,
    supported_mech: str | None = None,
    response_token: bytes | None = None,
    mech_list_mic: bytes | None = None,
) -> bytes:
    """The acceptor's NegTokenResp (RFC 4178 §4.2.2)."""
    state = NegState(neg_state) if neg_state is not None else None
    return bytes(NegTokenResp(state, supported_mech, response_token, mech_list_mic).pack())
