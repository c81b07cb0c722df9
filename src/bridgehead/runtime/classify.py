"""One classify step: an exception met talking to a server → (registry code, detail).

The forward and reverse proxies, ``probe``, the OAuth probe, ``lint --probe`` and ``kcd
test`` meet the same exceptions; this module names them once, from the registry's
platform numbers, so one failure has one code everywhere:

* ``ssl.SSLCertVerificationError`` → the entry whose ``x509_errors`` hold its
  ``verify_code`` (OpenSSL ``X509_V_ERR_*``; 26 is ``upstream-cert-not-server`` for all of
  them); an unknown number is ``upstream-cert-untrusted``.
* ``ssl.SSLError`` naming a TLS alert (``TLSV1_ALERT_UNKNOWN_CA``,
  ``SSLV3_ALERT_HANDSHAKE_FAILURE``, ``TLSV13_ALERT_CERTIFICATE_REQUIRED`` …) → the entry
  whose ``tls_alerts`` hold that number (RFC 8446 §6); ``WRONG_VERSION_NUMBER`` /
  ``record layer failure`` before a ServerHello → ``tls-wrong-version-number`` (the peer
  does not speak TLS on that port); other TLS errors → ``upstream-tls-failed``.
* ``socket.gaierror`` → ``upstream-dns-failed``; refused / unreachable →
  ``upstream-unreachable``; a timeout → ``upstream-timeout`` (``upstream-unreachable``
  while connecting).
"""

from __future__ import annotations

import socket
import ssl

from bridgehead.failures import by_tls_alert, by_x509
from bridgehead.failures.tls_alerts import alert_number

__all__ = ["classify"]


def _alert_from(exc: ssl.SSLError) -> int | None:
    reason = str(getattr(exc, "reason", "") or "")
    return alert_number(reason) if reason else alert_number(str(exc))


def classify(exc: BaseException, *, connecting: bool = False) -> tuple[str, str]:
    """The registry code and a one-line detail for ``exc`` (see the module docstring)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        number = exc.verify_code
        entries = by_x509(number)
        code = entries[0].code if entries else "upstream-cert-untrusted"
        return code, f"{exc.verify_message} (X509_V_ERR {number})"
    if isinstance(exc, ssl.SSLError):
        alert = _alert_from(exc)
        if alert is not None and by_tls_alert(alert):
            return by_tls_alert(alert)[0].code, f"TLS alert {alert}: {exc.reason or exc}"
        reason = str(exc.reason or "")
        if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST"):
            return "tls-wrong-version-number", f"{reason}: the peer does not speak TLS on this port"
        return "upstream-tls-failed", str(exc) or type(exc).__name__
    if isinstance(exc, socket.gaierror):
        return "upstream-dns-failed", exc.strerror or str(exc)
    if isinstance(exc, TimeoutError):
        return ("upstream-unreachable" if connecting else "upstream-timeout"), str(exc) or "timed out"
    if isinstance(exc, (ConnectionRefusedError, ConnectionAbortedError)) or (
            isinstance(exc, OSError) and connecting):
        return "upstream-unreachable", getattr(exc, "strerror", None) or str(exc)
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "upstream-tls-failed", f"connection reset: {exc}"
    return "upstream-tls-failed", f"{type(exc).__name__}: {exc}"


def relay_tls_failure(exc: ssl.SSLError, peer: str = "server") -> tuple[str, str]:
    """A TLS error in the middle of a relayed exchange (``runtime.relay.classify``): an explicit TLS
    alert keeps its ``tls-alert-N`` code (a TLS 1.3 server refuses a client certificate only after the
    handshake, RFC 8446 §4.4.2.4), anything else is ``upstream-bad-response``."""
    code, detail = classify(exc)
    return (code if code.startswith("tls-alert-") else "upstream-bad-response"), f"TLS error with the {peer}: {detail}"
