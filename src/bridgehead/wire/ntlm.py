"""NTLM messages (MS-NLMP §2.2) decoded into plain, typed summaries.

pyspnego's message classes (``spnego._ntlm_raw.messages``) parse the three messages'
fixed headers and payload fields. AV pairs (MS-NLMP §2.2.2.1) and the NTLMv2 client
challenge blob (§2.2.2.7) are walked here by hand on the raw bytes, because the acceptor
must see exactly what the client sent: pyspnego's ``TargetInfo`` collapses duplicate AV
pairs into a dict, raises on short values and re-packs canonically, and the NTLMv2 proof
(§3.3.2) is an HMAC over the client's *raw* blob.

Every decoder raises :class:`NtlmDecodeError` (a ``ValueError``) on malformed input and
nothing else.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass, field
from typing import Any

from bridgehead.wire.pyspnego_private import Authenticate, Challenge, Negotiate  # parsing only

__all__ = [
    "AV_NAMES",
    "FLAG_NAMES",
    "SIGNATURE",
    "AvPair",
    "BindingInfo",
    "NtlmDecodeError",
    "NtlmMessage",
    "NtlmV2Blob",
    "binding_info",
    "decode",
    "filetime_to_datetime",
    "flag_names",
    "parse_av_pairs",
    "parse_v2_blob",
]

SIGNATURE = b"NTLMSSP\x00"

# MS-NLMP §2.2.2.5 NEGOTIATE flags, by the names the specification gives them.
FLAG_NAMES: dict[int, str] = {
    0x00000001: "NTLMSSP_NEGOTIATE_UNICODE",
    0x00000002: "NTLM_NEGOTIATE_OEM",
    0x00000004: "NTLMSSP_REQUEST_TARGET",
    0x00000010: "NTLMSSP_NEGOTIATE_SIGN",
    0x00000020: "NTLMSSP_NEGOTIATE_SEAL",
    0x00000040: "NTLMSSP_NEGOTIATE_DATAGRAM",
    0x00000080: "NTLMSSP_NEGOTIATE_LM_KEY",
    0x00000200: "NTLMSSP_NEGOTIATE_NTLM",
    0x00000800: "NTLMSSP_ANONYMOUS",  # the spec's "J" bit ("anonymous connection")
    0x00001000: "NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED",
    0x00002000: "NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED",
    0x00008000: "NTLMSSP_NEGOTIATE_ALWAYS_SIGN",
    0x00010000: "NTLMSSP_TARGET_TYPE_DOMAIN",
    0x00020000: "NTLMSSP_TARGET_TYPE_SERVER",
    0x00080000: "NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY",
    0x00100000: "NTLMSSP_NEGOTIATE_IDENTIFY",
    0x00400000: "NTLMSSP_REQUEST_NON_NT_SESSION_KEY",
    0x00800000: "NTLMSSP_NEGOTIATE_TARGET_INFO",
    0x02000000: "NTLMSSP_NEGOTIATE_VERSION",
    0x20000000: "NTLMSSP_NEGOTIATE_128",
    0x40000000: "NTLMSSP_NEGOTIATE_KEY_EXCH",
    0x80000000: "NTLMSSP_NEGOTIATE_56",
}

# MS-NLMP §2.2.2.1 AV_PAIR identifiers.
AV_NAMES: dict[int, str] = {
    0x0000: "MsvAvEOL",
    0x0001: "MsvAvNbComputerName",
    0x0002: "MsvAvNbDomainName",
    0x0003: "MsvAvDnsComputerName",
    0x0004: "MsvAvDnsDomainName",
    0x0005: "MsvAvDnsTreeName",
    0x0006: "MsvAvFlags",
    0x0007: "MsvAvTimestamp",
    0x0008: "MsvAvSingleHost",
    0x0009: "MsvAvTargetName",
    0x000A: "MsvAvChannelBindings",
}
_TEXT_AVS = {0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0009}
AV_FLAG_MIC = 0x00000002  # MsvAvFlags bit: "the client is providing message integrity in the MIC field"

MESSAGE_NAMES = {1: "NEGOTIATE_MESSAGE", 2: "CHALLENGE_MESSAGE", 3: "AUTHENTICATE_MESSAGE"}


class NtlmDecodeError(ValueError):
    """The bytes are not a well-formed NTLM message."""


@dataclass(frozen=True)
class AvPair:
    av_id: int
    value: bytes

    @property
    def name(self) -> str:
        return AV_NAMES.get(self.av_id, f"MsvAv0x{self.av_id:04X}")

    def text(self) -> str | None:
        if self.av_id not in _TEXT_AVS:
            return None
        return self.value.decode("utf-16-le", errors="replace")


@dataclass(frozen=True)
class BindingInfo:
    """The MsvAvChannelBindings AV pair: ``absent``, ``zero`` (unbound) or ``value``."""

    status: str
    value: bytes | None = None

    @property
    def hex(self) -> str | None:
        return self.value.hex() if self.value is not None else None


@dataclass(frozen=True)
class NtlmV2Blob:
    """NTLMv2_CLIENT_CHALLENGE (MS-NLMP §2.2.2.7) plus the NTProofStr in front of it."""

    nt_proof_str: bytes
    raw: bytes  # everything after NTProofStr ("temp" in §3.3.2), hashed as sent
    timestamp: int
    client_challenge: bytes
    av_pairs: tuple[AvPair, ...]


@dataclass
class NtlmMessage:
    """A decoded NTLM message; fields not carried by a message type stay ``None``."""

    message_type: int
    flags: int
    raw: bytes
    domain: str | None = None
    user: str | None = None
    workstation: str | None = None
    target_name: str | None = None
    server_challenge: bytes | None = None
    version: str | None = None
    av_pairs: tuple[AvPair, ...] = ()
    lm_response: bytes | None = None
    nt_response: bytes | None = None
    mic: bytes | None = None
    encrypted_session_key: bytes | None = None
    v2: NtlmV2Blob | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message_name(self) -> str:
        return MESSAGE_NAMES.get(self.message_type, f"type {self.message_type}")

    @property
    def ntlm_version(self) -> str | None:
        """``v2``, ``v1`` or ``anonymous`` for an AUTHENTICATE_MESSAGE (MS-NLMP §3.3)."""
        if self.message_type != 3:
            return None
        if not self.nt_response and (not self.lm_response or self.lm_response == b"\x00"):
            return "anonymous"
        if self.nt_response is not None and len(self.nt_response) > 24:
            return "v2"
        return "v1"

    def client_av(self, av_id: int) -> AvPair | None:
        """The first AV pair ``av_id`` from the NTLMv2 blob (AUTHENTICATE) or TargetInfo (CHALLENGE)."""
        pairs = self.v2.av_pairs if self.v2 is not None else self.av_pairs
        for pair in pairs:
            if pair.av_id == av_id:
                return pair
        return None

    @property
    def target_spn(self) -> str | None:
        pair = self.client_av(0x0009)
        return pair.text() if pair is not None else None

    @property
    def av_flags(self) -> int:
        pair = self.client_av(0x0006)
        if pair is None or len(pair.value) < 4:
            return 0
        return int(struct.unpack("<I", pair.value[:4])[0])

    @property
    def mic_present(self) -> bool:
        return bool(self.av_flags & AV_FLAG_MIC) and self.mic is not None

    @property
    def timestamp(self) -> dt.datetime | None:
        if self.v2 is not None:
            return filetime_to_datetime(self.v2.timestamp)
        pair = self.client_av(0x0007)
        if pair is not None and len(pair.value) == 8:
            return filetime_to_datetime(int(struct.unpack("<Q", pair.value)[0]))
        return None

    @property
    def binding(self) -> BindingInfo:
        return binding_info(self.v2.av_pairs if self.v2 is not None else ())


def flag_names(flags: int) -> list[str]:
    """Spec names of the set NEGOTIATE flags, lowest bit first; unknown bits as hex."""
    names = []
    for bit in range(32):
        mask = 1 << bit
        if flags & mask:
            names.append(FLAG_NAMES.get(mask, f"0x{mask:08X}"))
    return names


def filetime_to_datetime(value: int) -> dt.datetime | None:
    """FILETIME (100 ns since 1601-01-01 UTC, MS-DTYP §2.3.3) to an aware datetime."""
    try:
        return dt.datetime(1601, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=value // 10)
    except OverflowError:
        return None


def parse_av_pairs(data: bytes) -> tuple[AvPair, ...]:
    """AV_PAIR list (MS-NLMP §2.2.2.1) up to MsvAvEOL; a pair running past the end is an error."""
    pairs: list[AvPair] = []
    offset = 0
    while offset + 4 <= len(data):
        av_id, length = struct.unpack_from("<HH", data, offset)
        offset += 4
        if av_id == 0:
            return tuple(pairs)
        if offset + length > len(data):
            raise NtlmDecodeError(f"AV pair 0x{av_id:04X} runs past the end of the list")
        pairs.append(AvPair(av_id, data[offset : offset + length]))
        offset += length
    if offset != len(data):
        raise NtlmDecodeError("AV pair list ends in the middle of a header")
    return tuple(pairs)  # no MsvAvEOL: tolerated, as Windows does for the last pair


def binding_info(pairs: tuple[AvPair, ...]) -> BindingInfo:
    for pair in pairs:
        if pair.av_id == 0x000A:
            if pair.value == b"\x00" * len(pair.value):
                return BindingInfo("zero", pair.value)
            return BindingInfo("value", pair.value)
    return BindingInfo("absent")


def parse_v2_blob(nt_response: bytes) -> NtlmV2Blob:
    """NTProofStr (16) + NTLMv2_CLIENT_CHALLENGE (MS-NLMP §2.2.2.7)."""
    if len(nt_response) < 16 + 28:
        raise NtlmDecodeError("NTLMv2 response shorter than its fixed part")
    raw = nt_response[16:]
    resp_type, hi_resp_type = raw[0], raw[1]
    if resp_type != 1 or hi_resp_type != 1:
        raise NtlmDecodeError(f"NTLMv2 blob has RespType {resp_type}/{hi_resp_type}, expected 1/1")
    timestamp = int(struct.unpack_from("<Q", raw, 8)[0])
    client_challenge = raw[16:24]
    return NtlmV2Blob(nt_response[:16], raw, timestamp, client_challenge, parse_av_pairs(raw[28:]))


def _version(msg: Any) -> str | None:
    try:
        version = msg.version
    except Exception:
        return None
    if version is None:
        return None
    return f"{version.major}.{version.minor}.{version.build} (NTLM revision {version.revision})"


def decode(data: bytes) -> NtlmMessage:
    """Decode one NTLM message (NEGOTIATE, CHALLENGE or AUTHENTICATE)."""
    if not data.startswith(SIGNATURE):
        raise NtlmDecodeError("not an NTLM message (no NTLMSSP signature)")
    if len(data) < 12:
        raise NtlmDecodeError("NTLM message truncated before its type")
    message_type = int(struct.unpack_from("<I", data, 8)[0])
    try:
        if message_type == 1:
            return _negotiate(data)
        if message_type == 2:
            return _challenge(data)
        if message_type == 3:
            return _authenticate(data)
    except NtlmDecodeError:
        raise
    except Exception as exc:  # pyspnego raises struct.error, ValueError, UnicodeDecodeError, ...
        raise NtlmDecodeError(f"malformed {MESSAGE_NAMES[message_type]}: {exc}") from None
    raise NtlmDecodeError(f"unknown NTLM message type {message_type}")


def _check_fields(data: bytes, offsets: tuple[int, ...]) -> None:
    """Every (len, maxlen, offset) payload field must lie inside the message (§2.2)."""
    for at in offsets:
        if at + 8 > len(data):
            continue
        length, _max, offset = struct.unpack_from("<HHI", data, at)
        if length and offset + length > len(data):
            raise NtlmDecodeError(f"payload field at byte {at} points past the end of the message")


def _negotiate(data: bytes) -> NtlmMessage:
    if len(data) < 16:
        raise NtlmDecodeError("NEGOTIATE_MESSAGE shorter than 16 bytes")
    _check_fields(data, (16, 24))
    msg = Negotiate.unpack(data)
    flags = int(msg.flags)
    domain = workstation = None
    if flags & 0x1000 and len(data) >= 32:
        domain = msg.domain_name
    if flags & 0x2000 and len(data) >= 32:
        workstation = msg.workstation
    return NtlmMessage(1, flags, data, domain=domain, workstation=workstation, version=_version(msg))


def _challenge(data: bytes) -> NtlmMessage:
    if len(data) < 32:
        raise NtlmDecodeError("CHALLENGE_MESSAGE shorter than 32 bytes")
    _check_fields(data, (12, 40))
    msg = Challenge.unpack(data)
    pairs: tuple[AvPair, ...] = ()
    if len(data) >= 48:
        length, _max, offset = struct.unpack_from("<HHI", data, 40)
        if length:
            pairs = parse_av_pairs(data[offset : offset + length])
    return NtlmMessage(
        2, int(msg.flags), data, target_name=msg.target_name, server_challenge=msg.server_challenge,
        version=_version(msg) if len(data) >= 56 else None, av_pairs=pairs,
    )


def _authenticate(data: bytes) -> NtlmMessage:
    if len(data) < 64:
        raise NtlmDecodeError("AUTHENTICATE_MESSAGE shorter than 64 bytes")
    _check_fields(data, (12, 20, 28, 36, 44, 52))
    msg = Authenticate.unpack(data)
    nt = msg.nt_challenge_response
    v2 = parse_v2_blob(nt) if nt is not None and len(nt) > 24 else None
    return NtlmMessage(
        3, int(msg.flags), data, domain=msg.domain_name, user=msg.user_name, workstation=msg.workstation,
        version=_version(msg), lm_response=msg.lm_challenge_response, nt_response=nt, mic=msg.mic,
        encrypted_session_key=msg.encrypted_random_session_key, v2=v2,
    )
