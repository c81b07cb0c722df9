"""Extended Protection for Authentication as Windows (HTTP.sys / IIS) applies it to NTLMv2.

Inputs: the MsvAvChannelBindings AV pair of an authenticated NTLMv2 response (absent,
all-zero, or a 16-byte value), the value the server expects (MD5 of the
gss_channel_bindings_struct over its own certificate's tls-server-end-point, see
``bridgehead.core.channel_binding``), the MsvAvTargetName SPN and the NTLM version.

``tokenChecking`` (IIS ``extendedProtection``; .NET ``PolicyEnforcement``):

* ``none``    — no check at all.
* ``allow``   — a client that sends no binding passes (it does not know EP); an all-zero
  ("unbound", MS-NLMP §2.2.2.1) binding is refused as Windows refuses it; a binding that
  differs from the server's is refused (SEC_E_BAD_BINDINGS).
* ``require`` — missing, zero or wrong binding is refused, and NTLMv1 (which cannot carry a
  binding) cannot pass.

Flags (IIS ``extendedProtection/@flags``):

* ``proxy`` — TLS ends at a trusted proxy, so the binding cannot match: skip the exact
  comparison, but a binding must be present and not unbound, and the SPN the client
  named (MsvAvTargetName) must be in the allowed list (the *service binding*).
* ``no-service-name-check`` — with ``proxy``: skip the SPN list.
* ``allow-dotless-spn`` — accept SPNs whose host has no dot (``HTTP/mail``); refused
  otherwise, because a short name can be answered by anything on the LAN.
* ``proxy-cohosting`` — with ``proxy``: a connection whose binding matches exactly
  (a direct, non-proxied client) is accepted without the proxy rules.

Where pyspnego's own acceptor differs (``spnego._ntlm.NTLMProxy._step_accept_authenticate``):
it accepts an all-zero binding as if it matched, it refuses a missing binding whenever
the acceptor has bindings (so it has no "Allow"), and it knows no service binding. That
is why this module decides and pyspnego is only used for parsing and crypto.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from bridgehead.failures import Code, platform_number

__all__ = [
    "STATUS_BAD_BINDINGS",
    "EpDecision",
    "EpFlags",
    "EpPolicy",
    "TokenChecking",
    "evaluate",
    "spn_allowed",
]

# MS-ERREF §2.3 STATUS_BAD_BINDINGS (SEC_E_BAD_BINDINGS at the SSPI level), from the failure registry
STATUS_BAD_BINDINGS = platform_number(Code.NTLM_BAD_BINDINGS, "ntstatus")


class TokenChecking(enum.Enum):
    NONE = "none"
    ALLOW = "allow"
    REQUIRE = "require"

    @classmethod
    def parse(cls, text: str) -> TokenChecking:
        aliases = {"off": "none", "accept": "allow", "required": "require"}
        value = aliases.get(text.strip().lower(), text.strip().lower())
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"Extended Protection must be none, allow or require, not {text!r}") from None


FLAG_WORDS = ("proxy", "no-service-name-check", "allow-dotless-spn", "proxy-cohosting")


@dataclass(frozen=True)
class EpFlags:
    proxy: bool = False
    no_service_name_check: bool = False
    allow_dotless_spn: bool = False
    proxy_cohosting: bool = False

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> EpFlags:
        words = text.split(",") if isinstance(text, str) else list(text)
        seen: set[str] = set()
        for word in words:
            key = word.strip().lower().replace("_", "-")
            key = {"noservicenamecheck": "no-service-name-check", "allowdotlessspn": "allow-dotless-spn",
                   "proxycohosting": "proxy-cohosting"}.get(key, key)
            if not key or key == "none":
                continue
            if key not in FLAG_WORDS:
                known = ", ".join(FLAG_WORDS)
                raise ValueError(f"unknown Extended Protection flag {word!r} (known: {known})")
            seen.add(key)
        return cls("proxy" in seen, "no-service-name-check" in seen, "allow-dotless-spn" in seen,
                   "proxy-cohosting" in seen)

    def words(self) -> list[str]:
        values = (self.proxy, self.no_service_name_check, self.allow_dotless_spn, self.proxy_cohosting)
        return [word for word, on in zip(FLAG_WORDS, values, strict=True) if on]


@dataclass(frozen=True)
class EpPolicy:
    checking: TokenChecking = TokenChecking.NONE
    flags: EpFlags = EpFlags()
    spns: tuple[str, ...] = ()


@dataclass(frozen=True)
class EpDecision:
    """``ok`` plus a short ``outcome`` word and, when refused, the registry ``code``."""

    ok: bool
    outcome: str
    code: str | None = None
    status: int | None = None  # NTSTATUS for the W3C log
    detail: str = ""


_ABSENT_OK = EpDecision(True, "absent-allowed", detail="no channel binding sent; Allow accepts such clients")
_ABSENT_REFUSED = "no channel binding sent; Extended Protection is Require"


def _refuse(outcome: str, code: str, detail: str) -> EpDecision:
    return EpDecision(False, outcome, code, STATUS_BAD_BINDINGS, detail)


def spn_allowed(spn: str | None, allowed: Iterable[str], *, allow_dotless: bool) -> tuple[bool, str]:
    """Service binding check: ``spn`` (``HTTP/host[:port]``) against the allowed list, case-insensitive."""
    if not spn:
        return False, "the client named no SPN (MsvAvTargetName absent or empty)"
    service, _, rest = spn.partition("/")
    host = rest.split(":", 1)[0].split("/", 1)[0]
    if not host:
        return False, f"SPN {spn!r} names no host"
    if "." not in host and not allow_dotless:
        return False, f"SPN {spn!r} has a dotless host name (flag allow-dotless-spn not set)"
    wanted = {s.lower() for s in allowed}
    if f"{service}/{host}".lower() in wanted or spn.lower() in wanted:
        return True, f"SPN {spn!r} is allowed"
    return False, f"SPN {spn!r} is not in the allowed list ({', '.join(sorted(wanted)) or 'empty'})"


def evaluate(
    policy: EpPolicy,
    *,
    binding_status: str,
    binding: bytes | None,
    expected: bytes | None,
    ntlm_version: str,
    target_spn: str | None,
) -> EpDecision:
    """Decide one authenticated NTLM logon. ``binding_status`` is ``absent``, ``zero`` or ``value``."""
    checking, flags = policy.checking, policy.flags
    if checking is TokenChecking.NONE:
        return EpDecision(True, "not-checked", detail="Extended Protection is off")
    if ntlm_version != "v2":
        if checking is TokenChecking.REQUIRE:
            return EpDecision(False, "ntlmv1-refused", "ntlm-ntlmv1-refused", STATUS_BAD_BINDINGS,
                              "NTLMv1/LM cannot carry a channel binding; Extended Protection is Require")
        return EpDecision(True, "absent-allowed", detail="NTLMv1 carries no binding; Allow accepts it")
    matches = binding_status == "value" and expected is not None and binding == expected
    if flags.proxy and not (flags.proxy_cohosting and matches):
        return _proxy(policy, binding_status, target_spn)
    if binding_status == "absent":
        if checking is TokenChecking.ALLOW:
            return _ABSENT_OK
        return _refuse("absent", "ntlm-bad-bindings", _ABSENT_REFUSED)
    if binding_status == "zero":
        return _refuse("zero", "ntlm-zero-binding", "an all-zero (unbound) channel binding is refused")
    if matches:
        return EpDecision(True, "match", detail="channel binding matches the server certificate")
    return _refuse("mismatch", "ntlm-bad-bindings",
                   "the channel binding was computed over a different certificate than this server's")


def _proxy(policy: EpPolicy, binding_status: str, target_spn: str | None) -> EpDecision:
    checking, flags = policy.checking, policy.flags
    if binding_status == "absent" and checking is TokenChecking.ALLOW:
        return _ABSENT_OK
    if binding_status == "absent":
        return _refuse("absent", "ntlm-bad-bindings", "flag proxy: a channel binding must be present")
    if binding_status == "zero":
        return _refuse("zero", "ntlm-zero-binding", "flag proxy: an unbound (all-zero) binding is refused")
    if flags.no_service_name_check:
        return EpDecision(True, "proxy-present", detail="flag proxy: binding present, SPN not checked")
    ok, why = spn_allowed(target_spn, policy.spns, allow_dotless=flags.allow_dotless_spn)
    if ok:
        return EpDecision(True, "proxy-spn-ok", detail=f"flag proxy: {why}")
    return _refuse("spn-not-allowed", "ntlm-spn-not-allowed", f"flag proxy: {why}")
