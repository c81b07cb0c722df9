"""Kerberos through Negotiate with a keytab (python-gssapi), with Extended Protection.

The acceptor passes the server's channel bindings (RFC 5929 tls-server-end-point wrapped in
gss_channel_bindings_struct, RFC 4121 §4.1.1.2) to GSS-API when the policy is Allow or Require:
MIT krb5 then refuses a mismatching binding with GSS_S_BAD_BINDINGS and accepts an
authenticator without bindings. Under Require, such an unbound logon is refused here using
GSS_C_CHANNEL_BOUND_FLAG where the library reports it (MIT krb5 ≥ 1.19); otherwise the
refusal cannot be made and the outcome says ``binding: unknown``.

Tested at unit level (token errors, no keytab); a live KDC exchange is not part of the suite.
Runtime, not core: it calls GSSAPI and sets ``KRB5_KTNAME`` in the process environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridgehead.core.channel_binding import application_data, tls_server_end_point
from bridgehead.core.ntlm.acceptor import SEC_E_INVALID_TOKEN, AuthOutcome, KerberosAccepting
from bridgehead.core.ntlm.policy import STATUS_BAD_BINDINGS, EpPolicy, TokenChecking

CHANNEL_BOUND_FLAG = 0x800  # GSS_C_CHANNEL_BOUND_FLAG (MIT krb5 1.19, RFC draft)


class KerberosAcceptor(KerberosAccepting):
    def __init__(self, keytab: Path, policy: EpPolicy, cert_der: bytes | None) -> None:
        import gssapi

        self._gssapi = gssapi
        self.policy = policy
        os.environ.setdefault("KRB5_KTNAME", str(keytab))
        try:
            creds = gssapi.Credentials(usage="accept", store={"keytab": str(keytab)})
        except Exception:  # cred store extension missing: fall back to KRB5_KTNAME
            creds = gssapi.Credentials(usage="accept")
        bindings = None
        if cert_der is not None and policy.checking is not TokenChecking.NONE:
            app_data = application_data(tls_server_end_point(cert_der))
            bindings = gssapi.raw.ChannelBindings(application_data=app_data)
        self._ctx = gssapi.SecurityContext(creds=creds, usage="accept", channel_bindings=bindings)

    def step(self, token: bytes) -> tuple[bytes | None, AuthOutcome | None]:
        gssapi = self._gssapi
        try:
            out = self._ctx.step(token)
        except gssapi.exceptions.BadChannelBindingsError as exc:
            return None, AuthOutcome(False, mech="Kerberos", binding="value", binding_outcome="mismatch",
                                     code="ntlm-bad-bindings", status=STATUS_BAD_BINDINGS, detail=str(exc))
        except gssapi.exceptions.GSSError as exc:
            return None, AuthOutcome(False, mech="Kerberos", code="ntlm-invalid-token",
                                     status=SEC_E_INVALID_TOKEN, detail=f"Kerberos: {exc}")
        if not self._ctx.complete:
            return out, None
        principal = str(self._ctx.initiator_name)
        user, _, realm = principal.partition("@")
        flags = int(self._ctx.actual_flags)
        bound = bool(flags & CHANNEL_BOUND_FLAG)
        binding = "value" if bound else "absent-or-unknown"
        if self.policy.checking is TokenChecking.REQUIRE and not bound:
            return None, AuthOutcome(False, mech="Kerberos", user=user, domain=realm, binding=binding,
                                     binding_outcome="absent", code="ntlm-bad-bindings",
                                     status=STATUS_BAD_BINDINGS,
                                     detail="Kerberos authenticator carries no channel binding (Require)")
        outcome = "match" if bound else ("not-checked" if self.policy.checking is TokenChecking.NONE
                                         else "absent-allowed")
        return out, AuthOutcome(True, mech="Kerberos", user=user, domain=realm, binding=binding,
                                binding_outcome=outcome, detail="Kerberos AP-REQ accepted")


def kerberos_factory(keytab: Path, policy: EpPolicy, cert_der: bytes | None) -> Callable[[], Any]:
    def make() -> KerberosAcceptor:
        return KerberosAcceptor(keytab, policy, cert_der)

    return make
