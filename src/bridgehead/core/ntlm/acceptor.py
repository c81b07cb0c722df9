"""The NTLM acceptor and its Negotiate (SPNEGO) wrapper — sans-I/O, one object per connection.

Flow (MS-NLMP §3.2.5): NEGOTIATE_MESSAGE in → CHALLENGE_MESSAGE out (with MsvAvTimestamp, so
clients add a MIC, §3.1.5.1.2) → AUTHENTICATE_MESSAGE in → :class:`AuthOutcome`.

Checks, in Windows' order of meaning:

1. The message parses (else ``ntlm-invalid-token``, SEC_E_INVALID_TOKEN 0x80090308).
2. The user exists and the NTLMv2 proof verifies: NTProofStr = HMAC_MD5(NTOWFv2,
   ServerChallenge + temp) over the client's *raw* blob (§3.3.2); NTLMv1 via pyspnego's
   ``compute_response_v1`` (§3.3.1). Else ``ntlm-logon-failure`` (STATUS_LOGON_FAILURE) —
   the wrong password is its own failure, and the binding is not looked at, because it is
   only trustworthy inside a verified HMAC.
3. The MIC (§3.2.5.1.2) verifies when MsvAvFlags announces one, else ``ntlm-invalid-token``.
4. The Extended Protection policy (:mod:`.policy`) on MsvAvChannelBindings / MsvAvTargetName.

NTLMv2 timestamp (after the proof verified, because the TimeStamp of the NTLMv2_CLIENT_CHALLENGE
is only trustworthy inside the HMAC): MS-NLMP §3.2.5.1.2 says the server SHOULD fail a response
whose TimeStamp differs from the server's time by more than MaxLifetime (§3.1.1.1, "the maximum
lifetime for challenge/response pairs"); the spec's product note gives Windows' value as 36 hours
(Windows Vista and later). That is :data:`DEFAULT_MAX_SKEW`; ``max_skew`` (seconds) sets another,
0 turns the check off. Outside it the logon fails with ``ntlm-stale-response``, in either
direction (a response from the future is as suspect as a replayed old one).

pyspnego supplies the message classes and the NTLM crypto primitives (NTOWFv2, HMAC-MD5,
RC4, SIGNKEY/SEALKEY, NTLM signatures); its own acceptor is not used (see policy.py).
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridgehead.core.ntlm.policy import EpDecision, EpPolicy, evaluate
from bridgehead.core.ntlm.users import UserStore
from bridgehead.wire import ntlm as wire_ntlm
from bridgehead.wire import spnego as wire_spnego
from bridgehead.wire.pyspnego_private import (
    AvId,
    Challenge,
    FileTime,
    NegotiateFlags,
    TargetInfo,
    Version,
    compute_response_v1,
    hmac_md5,
    ntowfv2,
    rc4init,
    rc4k,
    sealkey,
    sign,
    signkey,
)

__all__ = [
    "SEC_E_INVALID_TOKEN",
    "STATUS_LOGON_FAILURE",
    "AuthOutcome",
    "NegotiateAcceptor",
    "NtlmAcceptor",
    "ServerIdentity",
    "Step",
]

DEFAULT_MAX_SKEW = 36 * 3600.0  # seconds: MS-NLMP §3.1.1.1 MaxLifetime, Windows' value (see the module)
SEC_E_INVALID_TOKEN = 0x80090308
STATUS_LOGON_FAILURE = 0xC000006D
STATUS_NO_SUCH_USER = 0xC0000064
STATUS_WRONG_PASSWORD = 0xC000006A


@dataclass(frozen=True)
class ServerIdentity:
    """Names the server puts in its CHALLENGE_MESSAGE TargetInfo (MS-NLMP §2.2.2.1)."""

    netbios_domain: str = "BRIDGEHEAD"
    netbios_computer: str = "BACKEND"
    dns_domain: str = "bridgehead.test"
    dns_computer: str = "backend.bridgehead.test"


@dataclass
class AuthOutcome:
    """The result of one logon attempt, ready for a log line, a FREB trace or a JSON answer."""

    ok: bool
    mech: str = "NTLM"
    user: str | None = None
    domain: str | None = None
    workstation: str | None = None
    target_spn: str | None = None
    ntlm_version: str | None = None
    binding: str = "n/a"  # absent | zero | value | n/a
    binding_outcome: str = "n/a"  # from EpDecision.outcome, or "n/a"
    code: str | None = None
    status: int | None = None  # NTSTATUS / SECURITY_STATUS as IIS logs it in sc-win32-status
    detail: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def principal(self) -> str | None:
        if self.user is None:
            return None
        return f"{self.domain}\\{self.user}" if self.domain else self.user

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mech": self.mech,
            "user": self.user,
            "domain": self.domain,
            "principal": self.principal,
            "workstation": self.workstation,
            "target_spn": self.target_spn,
            "ntlm_version": self.ntlm_version,
            "binding": self.binding,
            "binding_outcome": self.binding_outcome,
            "code": self.code,
            "status": f"0x{self.status:08X}" if self.status is not None else None,
            "detail": self.detail,
        }


@dataclass
class Step:
    """What to send back: ``token`` (may be None) and, once finished, the ``outcome``."""

    token: bytes | None
    outcome: AuthOutcome | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not None


def _invalid(detail: str, **kw: Any) -> AuthOutcome:
    return AuthOutcome(False, code="ntlm-invalid-token", status=SEC_E_INVALID_TOKEN, detail=detail, **kw)


class NtlmAcceptor:
    """One NTLM exchange (raw NTLM tokens). Create one per connection."""

    def __init__(
        self,
        users: UserStore,
        policy: EpPolicy,
        *,
        expected_binding: bytes | None,
        identity: ServerIdentity | None = None,
        random: Callable[[int], bytes] = os.urandom,
        now: Callable[[], FileTime] = FileTime.now,
        max_skew: float = DEFAULT_MAX_SKEW,
    ) -> None:
        self.users = users
        self.max_skew = max_skew
        self.policy = policy
        self.expected_binding = expected_binding
        self.identity = identity or ServerIdentity()
        self._random = random
        self._now = now
        self._negotiate: bytes | None = None
        self._challenge: bytes | None = None
        self._server_challenge = b""
        self.flags = 0
        self.session_key: bytes | None = None

    # -- CHALLENGE ---------------------------------------------------------------------
    def challenge(self, negotiate: wire_ntlm.NtlmMessage) -> bytes:
        flags = (
            negotiate.flags
            | NegotiateFlags.request_target
            | NegotiateFlags.ntlm
            | NegotiateFlags.always_sign
            | NegotiateFlags.target_info
            | NegotiateFlags.target_type_domain
        )
        if flags & NegotiateFlags.unicode:  # exactly one of UNICODE/OEM (MS-NLMP §2.2.2.5)
            flags &= ~NegotiateFlags.oem
        if flags & NegotiateFlags.extended_session_security:
            flags &= ~NegotiateFlags.lm_key
        info = TargetInfo()
        info[AvId.nb_domain_name] = self.identity.netbios_domain
        info[AvId.nb_computer_name] = self.identity.netbios_computer
        info[AvId.dns_domain_name] = self.identity.dns_domain
        info[AvId.dns_computer_name] = self.identity.dns_computer
        info[AvId.timestamp] = self._now()
        self._server_challenge = self._random(8)
        extra: dict[str, Any] = {}
        if flags & NegotiateFlags.version:
            extra["version"] = Version(10, 0, 20348, 15)
        message = Challenge(int(flags), self._server_challenge, target_name=self.identity.netbios_domain,
                            target_info=info, **extra)
        self._negotiate = negotiate.raw
        self._challenge = bytes(message.pack())
        self.flags = int(flags)
        return self._challenge

    # -- AUTHENTICATE ------------------------------------------------------------------
    def authenticate(self, auth: wire_ntlm.NtlmMessage) -> AuthOutcome:
        base = _describe(auth)
        if self._challenge is None:
            return _invalid("AUTHENTICATE_MESSAGE without a CHALLENGE_MESSAGE on this connection", **base)
        version = auth.ntlm_version
        if version == "anonymous" or not auth.user:
            return AuthOutcome(False, code="ntlm-logon-failure", status=STATUS_LOGON_FAILURE,
                               detail="anonymous NTLM logon is not accepted", **base)
        user = self.users.find(auth.domain, auth.user)
        if user is None:
            return AuthOutcome(False, code="ntlm-logon-failure", status=STATUS_LOGON_FAILURE,
                               detail=f"unknown user (substatus 0x{STATUS_NO_SUCH_USER:08X})", **base)
        if version == "v2" and auth.v2 is not None:
            key = ntowfv2(auth.user, user.nt_hash, auth.domain)
            proof = hmac_md5(key, self._server_challenge + auth.v2.raw)
            if not hmac.compare_digest(proof, auth.v2.nt_proof_str):
                return _wrong_password(base)
            stale = self._stale(auth.v2.timestamp)
            if stale:
                return AuthOutcome(False, code="ntlm-stale-response", status=STATUS_LOGON_FAILURE, detail=stale,
                                   **base)
            key_exchange_key = hmac_md5(key, proof)
        else:
            client_challenge = b"\x00" * 8
            if auth.flags & NegotiateFlags.extended_session_security:
                client_challenge = (auth.lm_response or b"\x00" * 8)[:8]
            expected_nt, _lm, key_exchange_key = compute_response_v1(
                auth.flags, user.nt_hash, user.lm_hash, self._server_challenge, client_challenge)
            if not auth.nt_response or not hmac.compare_digest(expected_nt, auth.nt_response):
                return _wrong_password(base)
        self.session_key = self._exported_key(auth, key_exchange_key)
        if auth.av_flags & wire_ntlm.AV_FLAG_MIC:
            problem = self._check_mic(auth)
            if problem:
                return _invalid(problem, **base)
        decision = evaluate(self.policy, binding_status=auth.binding.status, binding=auth.binding.value,
                            expected=self.expected_binding, ntlm_version=version or "v1",
                            target_spn=auth.target_spn)
        return _with_decision(base, decision)

    def _stale(self, timestamp: int) -> str | None:
        """Why an NTLMv2 TimeStamp (FILETIME) is outside ``max_skew`` of the server's clock, else None."""
        if self.max_skew <= 0:
            return None
        server = self._now().replace(tzinfo=dt.UTC)
        client = wire_ntlm.filetime_to_datetime(timestamp)
        if client is None:
            return f"the NTLMv2 TimeStamp {timestamp} is not a time"
        delta = (client - server).total_seconds()
        if abs(delta) <= self.max_skew:
            return None
        how = "ahead of" if delta > 0 else "behind"
        return (f"the NTLMv2 response's TimeStamp {client:%Y-%m-%d %H:%M:%S}Z is {abs(delta) / 3600:.1f} h {how} the "
                f"server's clock (allowed: {self.max_skew / 3600:g} h): a replayed or badly clocked response")

    def _exported_key(self, auth: wire_ntlm.NtlmMessage, key_exchange_key: bytes) -> bytes:
        """ExportedSessionKey (MS-NLMP §3.2.5.1.2): RC4-decrypted when KEY_EXCH was negotiated."""
        if auth.flags & NegotiateFlags.key_exch and auth.flags & (NegotiateFlags.sign | NegotiateFlags.seal):
            return bytes(rc4k(key_exchange_key, auth.encrypted_session_key or b""))
        return key_exchange_key

    def _check_mic(self, auth: wire_ntlm.NtlmMessage) -> str | None:
        if auth.mic is None or self._negotiate is None or self._challenge is None or self.session_key is None:
            return "MsvAvFlags announces a MIC but the message has no MIC field"
        offset = 72 if _payload_offset(auth.raw) >= 88 else 64
        zeroed = auth.raw[:offset] + b"\x00" * 16 + auth.raw[offset + 16 :]
        expected = hmac_md5(self.session_key, self._negotiate + self._challenge + zeroed)
        if not hmac.compare_digest(expected, auth.mic):
            return "the MIC over NEGOTIATE+CHALLENGE+AUTHENTICATE does not verify (message altered?)"
        return None

    # -- SPNEGO mechListMIC (RFC 4178 §5, MS-SPNG §3.1.5.1) -------------------------------
    def verify_mech_list_mic(self, data: bytes, mic: bytes) -> bool:
        if self.session_key is None:
            return False
        handle = rc4init(sealkey(self.flags, self.session_key, "initiate"))
        expected = sign(self.flags, handle, signkey(self.flags, self.session_key, "initiate"), 0, data)
        return hmac.compare_digest(bytes(expected), mic)

    def mech_list_mic(self, data: bytes) -> bytes:
        assert self.session_key is not None
        handle = rc4init(sealkey(self.flags, self.session_key, "accept"))
        return bytes(sign(self.flags, handle, signkey(self.flags, self.session_key, "accept"), 0, data))


def _payload_offset(raw: bytes) -> int:
    offsets = []
    for at in (12, 20, 28, 36, 44, 52):
        length, _max, offset = struct.unpack_from("<HHI", raw, at)
        if length:
            offsets.append(offset)
    return min(offsets) if offsets else len(raw)


def _describe(auth: wire_ntlm.NtlmMessage) -> dict[str, Any]:
    return {
        "user": auth.user,
        "domain": auth.domain,
        "workstation": auth.workstation,
        "target_spn": auth.target_spn,
        "ntlm_version": auth.ntlm_version,
        "binding": auth.binding.status if auth.ntlm_version == "v2" else "n/a",
    }


def _wrong_password(base: dict[str, Any]) -> AuthOutcome:
    return AuthOutcome(False, code="ntlm-logon-failure", status=STATUS_LOGON_FAILURE,
                       detail=f"wrong password (substatus 0x{STATUS_WRONG_PASSWORD:08X})", **base)


def _with_decision(base: dict[str, Any], decision: EpDecision) -> AuthOutcome:
    return AuthOutcome(decision.ok, binding_outcome=decision.outcome, code=decision.code,
                       status=decision.status, detail=decision.detail, **base)


class KerberosAccepting:
    """What :class:`NegotiateAcceptor` needs from a Kerberos acceptor (see .kerberos)."""

    def step(self, token: bytes) -> tuple[bytes | None, AuthOutcome | None]:  # pragma: no cover - protocol
        raise NotImplementedError


class NegotiateAcceptor:
    """One HTTP NTLM/Negotiate exchange on one connection (RFC 4559, MS-NTHT).

    Accepts raw NTLM tokens (``NTLM`` scheme, or ``Negotiate`` carrying raw NTLM as
    requests-ntlm and curl do), SPNEGO-wrapped NTLM, and Kerberos when a factory is given.
    """

    def __init__(self, ntlm: NtlmAcceptor, kerberos: Callable[[], KerberosAccepting] | None = None) -> None:
        self.ntlm = ntlm
        self._kerberos_factory = kerberos
        self._spnego = False
        self._mech_types: tuple[str, ...] = ()
        self._client_mic: bytes | None = None

    def step(self, token: bytes) -> Step:
        try:
            gss = wire_spnego.decode(token)
        except ValueError as exc:
            return Step(None, _invalid(f"undecodable token: {exc}"))
        if gss.kind == "ntlm":
            return self._ntlm_step(token)
        if gss.kind == "kerberos":
            return self._kerberos_step(token, spnego=False)
        self._spnego = True
        if gss.kind == "spnego-init":
            self._mech_types = gss.mech_types
            self._client_mic = gss.mech_list_mic
            return self._init(gss)
        if gss.mech_list_mic:
            self._client_mic = gss.mech_list_mic
        if not gss.mech_token:
            return Step(None, _invalid("SPNEGO NegTokenResp without a responseToken"))
        return self._wrap(self._ntlm_step(gss.mech_token))

    def _init(self, gss: wire_spnego.GssToken) -> Step:
        first = gss.mech_types[0] if gss.mech_types else None
        if first in wire_spnego.KERBEROS_OIDS and self._kerberos_factory is not None and gss.mech_token:
            step = self._kerberos_step(gss.mech_token, spnego=True)
            state = 0 if step.outcome is not None and step.outcome.ok else 2
            return Step(wire_spnego.neg_token_resp(state, supported_mech=first, response_token=step.token),
                        step.outcome)
        if wire_spnego.NTLM_OID not in gss.mech_types:
            return Step(wire_spnego.neg_token_resp(2), _invalid(
                f"SPNEGO offers no mechanism this server accepts ({', '.join(gss.mech_names)})"))
        if first == wire_spnego.NTLM_OID and gss.mech_token:
            return self._wrap(self._ntlm_step(gss.mech_token), first=True)
        # The optimistic token was for another mechanism: select NTLM and wait (RFC 4178 §3.2).
        return Step(wire_spnego.neg_token_resp(1, supported_mech=wire_spnego.NTLM_OID))

    def _wrap(self, step: Step, *, first: bool = False) -> Step:
        mech = wire_spnego.NTLM_OID if first else None
        if step.outcome is None:
            return Step(wire_spnego.neg_token_resp(1, supported_mech=mech, response_token=step.token))
        outcome = step.outcome
        if not outcome.ok:
            return Step(wire_spnego.neg_token_resp(2), outcome)
        mic = None
        data = wire_spnego.mech_list_bytes(self._mech_types) if self._mech_types else b""
        if self._client_mic is not None:
            if not self.ntlm.verify_mech_list_mic(data, self._client_mic):
                return Step(wire_spnego.neg_token_resp(2), _invalid("SPNEGO mechListMIC does not verify",
                                                                    **_fields(outcome)))
            mic = self.ntlm.mech_list_mic(data)
        return Step(wire_spnego.neg_token_resp(0, mech_list_mic=mic), outcome)

    def _ntlm_step(self, token: bytes) -> Step:
        try:
            message = wire_ntlm.decode(token)
        except ValueError as exc:
            return Step(None, _invalid(f"malformed NTLM message: {exc}"))
        if message.message_type == 1:
            return Step(self.ntlm.challenge(message))
        if message.message_type == 3:
            return Step(None, self.ntlm.authenticate(message))
        return Step(None, _invalid(f"unexpected {message.message_name} from a client"))

    def _kerberos_step(self, token: bytes, *, spnego: bool) -> Step:
        if self._kerberos_factory is None:
            return Step(None, AuthOutcome(False, mech="Kerberos", code="ntlm-invalid-token",
                                          status=SEC_E_INVALID_TOKEN,
                                          detail="Kerberos token, but no keytab is configured"))
        out, outcome = self._kerberos_factory().step(token)
        return Step(out, outcome)


def _fields(outcome: AuthOutcome) -> dict[str, Any]:
    return {k: getattr(outcome, k) for k in ("user", "domain", "workstation", "target_spn", "ntlm_version",
                                              "binding")}
