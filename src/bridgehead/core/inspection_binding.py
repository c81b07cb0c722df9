"""Extended Protection through inspection: did the client bind to the leaf bridgehead minted?

An NTLMv2 AUTHENTICATE carries MsvAvChannelBindings (MS-NLMP §2.2.2.1): the MD5 of the
gss_channel_bindings_struct over ``tls-server-end-point:`` + the hash of the certificate the
client saw (RFC 5929 §4.1). Under inspection that is the minted leaf; a server with Extended
Protection compares it with its own certificate's and answers 401. :func:`judge` names that
case only when it is certain: the request's AUTHENTICATE (``Authorization: NTLM`` or
``Negotiate`` carrying NTLM, raw or inside a SPNEGO NegTokenResp/NegTokenInit, RFC 4559 §4.2)
has a binding equal to the minted leaf's and different from the server's, and the answer is 401.
Kerberos authenticators are encrypted (RFC 4121 §4.1.1): their bindings cannot be read here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from bridgehead.core.channel_binding import ntlm_binding_for_cert
from bridgehead.wire import ntlm, spnego

CODE = "inspection-broke-channel-binding"
CAUSE = "the inspection changed the TLS certificate the client bound to"


@dataclass(frozen=True)
class BindingFailure:
    code: str
    reason: str


def ntlm_authenticate(authorization: bytes) -> tuple[str, ntlm.NtlmMessage] | None:
    """``(scheme, message)`` if the Authorization value holds an NTLM AUTHENTICATE_MESSAGE."""
    scheme, _, token_b64 = authorization.strip().partition(b" ")
    name = scheme.decode("latin-1").lower()
    if name not in ("ntlm", "negotiate"):
        return None
    try:
        token = base64.b64decode(token_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    if name == "negotiate" and not token.startswith(b"NTLMSSP\x00"):
        try:
            inner = spnego.decode(token).mech_token
        except ValueError:
            return None
        if inner is None or not inner.startswith(b"NTLMSSP\x00"):
            return None
        token = inner
    try:
        message = ntlm.decode(token)
    except ValueError:
        return None
    if message.message_type != 3:
        return None
    return ("NTLM" if name == "ntlm" else "Negotiate"), message


def judge(authorization: bytes | None, status: int, minted_leaf: bytes | None,
          server_leaf: bytes | None) -> BindingFailure | None:
    """The finding for one inspected exchange, or ``None`` when it is not this failure."""
    if status != 401 or not authorization or not minted_leaf:
        return None
    found = ntlm_authenticate(authorization)
    if found is None:
        return None
    scheme, message = found
    binding = message.binding
    if binding.status != "value" or binding.value is None:
        return None
    minted = ntlm_binding_for_cert(minted_leaf)
    if binding.value != minted or (server_leaf and binding.value == ntlm_binding_for_cert(server_leaf)):
        return None
    user = f"{message.domain}\\{message.user}" if message.domain else (message.user or "?")
    return BindingFailure(CODE, f"{CAUSE}: {scheme} AUTHENTICATE from {user} carried the channel binding of "
                                f"the minted leaf ({binding.value.hex()}), not of the server's certificate, "
                                f"and the server answered 401")
