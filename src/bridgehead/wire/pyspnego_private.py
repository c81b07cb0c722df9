"""The one door to pyspnego's private modules: every ``spnego._*`` name bridgehead uses.

pyspnego's public API (``spnego.client``/``spnego.server``) is an initiator/acceptor; it has
no public message parser, no NTLM crypto primitives and no SPNEGO/Kerberos ASN.1 decoder,
which the diagnostics (``decode``, the acceptor's Windows policy, ``probe``) need. Those live in
``spnego._ntlm_raw``, ``spnego._spnego``, ``spnego._asn1`` and ``spnego._kerberos``: private,
so they may change in any release. Nothing else in bridgehead imports them; everything goes
through the names below, pyproject.toml pins the tested range (:data:`TESTED`), and
``tests/wire/test_pyspnego_private.py`` checks each name (signature and known answers, e.g.
MS-NLMP §4.2 test vectors) so that an upgrade that moves or changes one fails there, loudly,
instead of somewhere in a logon.
"""

from __future__ import annotations

from spnego._asn1 import unpack_asn1
from spnego._kerberos import KerberosV5Msg, KrbApReq
from spnego._ntlm_raw.crypto import (
    compute_response_v1,
    hmac_md5,
    lmowfv1,
    ntowfv1,
    ntowfv2,
    rc4init,
    rc4k,
    sealkey,
    signkey,
)
from spnego._ntlm_raw.messages import (
    Authenticate,
    AvId,
    Challenge,
    FileTime,
    Negotiate,
    NegotiateFlags,
    TargetInfo,
    Version,
)
from spnego._ntlm_raw.security import sign
from spnego._spnego import InitialContextToken, NegState, NegTokenInit, NegTokenResp, pack_mech_type_list

# the pyspnego releases these names were tested with (pyproject.toml: pyspnego>=0.12,<0.13)
TESTED = ((0, 12), (0, 13))

__all__ = [
    "TESTED",
    "Authenticate",
    "AvId",
    "Challenge",
    "FileTime",
    "InitialContextToken",
    "KerberosV5Msg",
    "KrbApReq",
    "NegState",
    "NegTokenInit",
    "NegTokenResp",
    "Negotiate",
    "NegotiateFlags",
    "TargetInfo",
    "Version",
    "compute_response_v1",
    "hmac_md5",
    "lmowfv1",
    "ntowfv1",
    "ntowfv2",
    "pack_mech_type_list",
    "rc4init",
    "rc4k",
    "sealkey",
    "sign",
    "signkey",
    "unpack_asn1",
]
