"""The one place that builds TLS contexts (as urllib3 v2 does), with secure defaults.

* TLS 1.2 minimum, compression off, one cipher-suite policy (below).
* Client contexts verify the peer's chain and host name unless a caller passes
  ``verify=False`` explicitly (the forward proxy never does), as browsers do: without
  ``X509_V_FLAG_X509_STRICT`` (it refuses leaves without Authority Key Identifier and CA
  certificates whose Basic Constraints are not critical, which curl, Chrome and Windows
  accept) and with ``X509_V_FLAG_PARTIAL_CHAIN`` (a trusted intermediate is a trust anchor,
  as in Windows and browsers). What browsers refuse beyond OpenSSL's checks is checked
  explicitly in :mod:`bridgehead.core.server_cert`.

Cipher suites (TLS 1.2; TLS 1.3 suites are all AEAD with (EC)DHE and stay OpenSSL's):

* :data:`SERVER_CIPHERS` — every listener (forward inspection leaves, reverse listeners,
  the pyOpenSSL client-certificate listener, the test backend): ECDHE with AES-GCM or
  ChaCha20-Poly1305 only (Mozilla "intermediate" without DHE; RFC 9325 §4.2).
* :data:`CLIENT_CIPHERS` — connections to servers: the same plus ECDHE with AES-CBC, which
  browsers still offer (older IIS). No static-RSA key exchange (no forward secrecy,
  RFC 9325 §4.1) unless a caller opts in with :data:`LEGACY_RSA_CIPHERS` for a destination.
* ``on_message`` installs ``SSLContext._msg_callback`` so a caller can observe handshake
  messages, e.g. a server's CertificateRequest (RFC 8446 §4.3.2, RFC 5246 §7.4.4).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

MessageCallback = Callable[[Any, str, Any, Any, Any, bytes], None]

SERVER_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!PSK:!SRP"
CLIENT_CIPHERS = SERVER_CIPHERS + ":ECDHE+AES:!AESCCM"
# static-RSA key exchange (TLS_RSA_WITH_AES_*), offered only to destinations that opt in
RSA_KEY_EXCHANGE_CIPHERS = "kRSA+AESGCM:kRSA+AES:!AESCCM:!aNULL:!eNULL:!PSK:!SRP"
LEGACY_RSA_CIPHERS = CLIENT_CIPHERS + ":" + RSA_KEY_EXCHANGE_CIPHERS


def client_context(
    *,
    cafiles: Iterable[str | Path] = (),
    system_store: bool = True,
    verify: bool = True,
    client_cert: tuple[str | Path, str | Path] | None = None,
    alpn: Sequence[str] | None = None,
    crlfiles: Iterable[str | Path] = (),
    on_message: MessageCallback | None = None,
    post_handshake_auth: bool = False,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    ciphers: str = CLIENT_CIPHERS,
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = minimum_version
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.set_ciphers(ciphers)
    if verify:
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        if system_store:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
            # Debian's bundle, in case the default paths point elsewhere (pyenv builds).
            for bundle in ("/etc/ssl/certs/ca-certificates.crt",):
                if Path(bundle).exists():
                    ctx.load_verify_locations(cafile=bundle)
        for cafile in cafiles:
            ctx.load_verify_locations(cafile=str(cafile))
        crls = [str(c) for c in crlfiles]
        for crl in crls:
            ctx.load_verify_locations(cafile=crl)
        if crls:
            ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        ctx.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if post_handshake_auth:
        ctx.post_handshake_auth = True
    if on_message is not None:
        install_message_callback(ctx, on_message)
    return ctx


def install_message_callback(ctx: ssl.SSLContext, callback: Callable[..., None]) -> None:
    """Observe TLS messages: ``callback(conn, "read"|"write", version, content_type, msg_type, data)``.

    ``SSLContext._msg_callback`` (private, isolated here) is set on the C slot directly, so the
    callback receives plain numbers: the public setter wraps it in a function that builds three enum
    members for every TLS record (~1 µs each, several records per request on a proxied connection),
    which was a measurable share of the inspecting proxy's CPU per request. Callers compare numbers.
    """
    slot = super(ssl.SSLContext, ssl.SSLContext)._msg_callback  # type: ignore[misc]
    slot.__set__(ctx, callback)


def server_context(
    cert: str | Path,
    key: str | Path,
    *,
    client_cafiles: Iterable[str | Path] = (),
    client_cert: str = "none",
    alpn: Sequence[str] | None = None,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A server context. ``client_cert`` is ``none``, ``optional`` or ``required``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = minimum_version
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.set_ciphers(SERVER_CIPHERS)
    ctx.load_cert_chain(str(cert), str(key))
    cas = [str(c) for c in client_cafiles]
    for cafile in cas:
        ctx.load_verify_locations(cafile=cafile)
    if client_cert == "required":
        ctx.verify_mode = ssl.CERT_REQUIRED
    elif client_cert == "optional":
        ctx.verify_mode = ssl.CERT_OPTIONAL
    elif client_cert != "none":
        raise ValueError(f"client_cert must be none, optional or required, not {client_cert!r}")
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def server_context_from_pem(key_and_chain_pem: bytes, *, alpn: Sequence[str] | None = None) -> ssl.SSLContext:
    """A server context from in-memory PEM (key + leaf + chain).

    Python's ``ssl`` loads keys only from files: the PEM goes through a private temporary
    file (0600, in a 0700 directory) that is removed right after loading.
    """
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bh-tls-") as tmp:
        path = Path(tmp) / "key-and-chain.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_and_chain_pem)
        return server_context(path, path, alpn=alpn)


def client_cert_server_context(cert: str | Path, key: str | Path, *, client_cafiles: Iterable[str | Path] = (),
                               verify_callback: Callable[..., bool], alpn: Sequence[bytes] = (b"http/1.1",)) -> Any:
    """A pyOpenSSL server context that asks for a client certificate and lets the handshake finish.

    The reverse proxy's client-certificate listeners need OpenSSL's verify callback (which
    Python's ``ssl`` does not expose): ``verify_callback(conn, x509, errnum, depth, ok)``
    records each X509_V_ERR and returns ``True``, so a client with an untrusted or expired
    certificate gets an HTTP error page naming the cause (TMG 12221/12222) instead of a bare
    TLS alert. The trust list (``client_cafiles``) is both the verification store and the
    CA names sent in the CertificateRequest (RFC 8446 §4.2.4, RFC 5246 §7.4.4). Session
    resumption is off: a resumed session would skip the callback and its recorded errors.
    """
    from OpenSSL import SSL

    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE | SSL.OP_NO_TICKET)
    ctx.set_cipher_list(SERVER_CIPHERS.encode())  # the same policy as every ``ssl`` listener
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    ctx.set_session_id(b"bridgehead-edge")
    ctx.use_certificate_chain_file(str(cert))
    ctx.use_privatekey_file(str(key))
    ctx.check_privatekey()
    cas = [str(c) for c in client_cafiles]
    for cafile in cas:
        ctx.load_verify_locations(cafile)
        ctx.load_client_ca(cafile.encode())
    if not cas:
        ctx.set_default_verify_paths()
    ctx.set_verify(SSL.VERIFY_PEER, verify_callback)
    ctx.set_verify_depth(8)
    protos = list(alpn)
    if protos:
        ctx.set_alpn_select_callback(
            lambda conn, offered: next((p for p in protos if p in offered), SSL.NO_OVERLAPPING_PROTOCOLS))
    return ctx
