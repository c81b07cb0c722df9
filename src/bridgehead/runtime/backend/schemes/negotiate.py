"""The ``negotiate`` and ``ntlm`` schemes: the NTLM/Negotiate acceptor with Extended Protection."""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path

from bridgehead.core.ntlm.users import UserStore
from bridgehead.runtime.asgi_auth import NegotiateScheme
from bridgehead.runtime.backend.config import BackendConfig
from bridgehead.runtime.users_file import load_users


def _cert_der(path: Path | None) -> bytes | None:
    if path is None:
        return None
    text = path.read_text()
    start = text.index("-----BEGIN CERTIFICATE-----")  # the leaf: first certificate of the file
    end = text.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
    return ssl.PEM_cert_to_DER_cert(text[start:end])


@lru_cache(maxsize=8)
def _users(path: Path | None) -> UserStore:
    return load_users(path) if path else UserStore([])


def _build(name: str, config: BackendConfig) -> NegotiateScheme:
    kerberos = None
    if config.keytab is not None and name == "Negotiate":
        from bridgehead.runtime.ntlm_kerberos import kerberos_factory

        kerberos = kerberos_factory(config.keytab, config.policy, _cert_der(config.cert))
    return NegotiateScheme(name, _users(config.users), config.policy, cert_der=_cert_der(config.cert),
                           kerberos=kerberos, max_skew=config.ntlm_max_skew)


def build_negotiate(config: BackendConfig) -> NegotiateScheme:
    return _build("Negotiate", config)


def build_ntlm(config: BackendConfig) -> NegotiateScheme:
    return _build("NTLM", config)
