"""TLS alerts by number and by every spelling TLS stacks print (RFC 8446 §6, RFC 5246 §7.2).

One table row per alert: the RFC name, Go's ``crypto/tls`` text (``remote error: tls: …``),
the NSS/Firefox error name and the Schannel status it maps to (Microsoft: "Schannel error
codes for TLS and SSL alerts"). :func:`alert_signatures` turns a row into the patterns
``explain`` matches: OpenSSL's ``tlsv1 alert unknown ca`` / ``TLSV1_ALERT_UNKNOWN_CA``,
Java's ``Received fatal alert: unknown_ca``, Go's ``tls: unknown certificate authority``,
nginx/OpenSSL's ``SSL alert number 48``, Schannel's ``fatal alert code is 48``, NSS's
``SSL_ERROR_UNKNOWN_CA_ALERT``. :func:`alert_number` reads an alert back out of a text or
an ``ssl.SSLError`` reason. The Schannel statuses are shared by several alerts, so they are
named in ``windows`` but are not lookup numbers (the alert itself decides).

Entries for alerts 40, 42, 48 and 116 live in ``general.py`` (they predate this table) and
take their spellings from here; this module adds the others bridgehead meets.
"""

from __future__ import annotations

import re

from bridgehead.failures.model import Failure

_RFC8446 = "RFC 8446 §6.2 (error alerts)"
_RFC5246 = "RFC 5246 §7.2.2 (error alerts)"
_SCHANNEL = "https://learn.microsoft.com/en-us/windows/win32/secauthn/schannel-error-codes-for-tls-and-ssl-alerts"
_GO = "https://go.dev/src/crypto/tls/alert.go"

# number: (RFC name, Go text, NSS name or "", Schannel status)
ALERTS: dict[int, tuple[str, str, str, str]] = {
    10: ("unexpected_message", "unexpected message", "", "SEC_E_ILLEGAL_MESSAGE 0x80090326"),
    20: ("bad_record_mac", "bad record MAC", "SSL_ERROR_BAD_MAC_ALERT", "SEC_E_MESSAGE_ALTERED 0x8009030F"),
    40: ("handshake_failure", "handshake failure", "SSL_ERROR_HANDSHAKE_FAILURE_ALERT",
         "SEC_E_ILLEGAL_MESSAGE 0x80090326"),
    42: ("bad_certificate", "bad certificate", "SSL_ERROR_BAD_CERT_ALERT", "SEC_E_CERT_UNKNOWN 0x80090327"),
    43: ("unsupported_certificate", "unsupported certificate", "SSL_ERROR_UNSUPPORTED_CERT_ALERT",
         "SEC_E_CERT_UNKNOWN 0x80090327"),
    44: ("certificate_revoked", "revoked certificate", "SSL_ERROR_REVOKED_CERT_ALERT", "CRYPT_E_REVOKED 0x80092010"),
    45: ("certificate_expired", "expired certificate", "SSL_ERROR_EXPIRED_CERT_ALERT",
         "SEC_E_CERT_EXPIRED 0x80090328"),
    46: ("certificate_unknown", "unknown certificate", "SSL_ERROR_CERTIFICATE_UNKNOWN_ALERT",
         "SEC_E_CERT_UNKNOWN 0x80090327"),
    47: ("illegal_parameter", "illegal parameter", "SSL_ERROR_ILLEGAL_PARAMETER_ALERT",
         "SEC_E_ILLEGAL_MESSAGE 0x80090326"),
    48: ("unknown_ca", "unknown certificate authority", "SSL_ERROR_UNKNOWN_CA_ALERT",
         "SEC_E_UNTRUSTED_ROOT 0x80090325"),
    49: ("access_denied", "access denied", "SSL_ERROR_ACCESS_DENIED_ALERT", "SEC_E_LOGON_DENIED 0x8009030C"),
    50: ("decode_error", "error decoding message", "SSL_ERROR_DECODE_ERROR_ALERT",
         "SEC_E_ILLEGAL_MESSAGE 0x80090326"),
    51: ("decrypt_error", "error decrypting message", "SSL_ERROR_DECRYPT_ERROR_ALERT",
         "SEC_E_DECRYPT_FAILURE 0x80090330"),
    70: ("protocol_version", "protocol version not supported", "SSL_ERROR_PROTOCOL_VERSION_ALERT",
         "SEC_E_UNSUPPORTED_FUNCTION 0x80090302"),
    71: ("insufficient_security", "insufficient security level", "SSL_ERROR_INSUFFICIENT_SECURITY_ALERT",
         "SEC_E_ALGORITHM_MISMATCH 0x80090331"),
    80: ("internal_error", "internal error", "SSL_ERROR_INTERNAL_ERROR_ALERT", "SEC_E_INTERNAL_ERROR 0x80090304"),
    86: ("inappropriate_fallback", "inappropriate fallback", "SSL_ERROR_INAPPROPRIATE_FALLBACK_ALERT",
         "SEC_E_ILLEGAL_MESSAGE 0x80090326"),
    112: ("unrecognized_name", "unrecognized name", "SSL_ERROR_UNRECOGNIZED_NAME_ALERT",
          "SEC_E_ILLEGAL_MESSAGE 0x80090326"),
    116: ("certificate_required", "certificate required", "SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT",
          "SEC_E_CERT_UNKNOWN 0x80090327"),
    120: ("no_application_protocol", "no application protocol", "SSL_ERROR_NEXT_PROTOCOL_NO_PROTOCOL",
          "SEC_E_APPLICATION_PROTOCOL_MISMATCH 0x80090367"),
}

_BY_NAME = {row[0]: n for n, row in ALERTS.items()}
_OPENSSL_REASON = re.compile(r"(?:SSLV3|TLSV1|TLSV13)_(?:ALERT_)?([A-Z_]+)")
_TEXT_NUMBER = re.compile(
    r"(?:fatal alert(?: code)?(?: is)?|alert number|alert(?: code)?|alert description)[\s:=#(]*(\d{1,3})\b", re.I
)


def _spaced(name: str) -> str:
    return name.replace("_", "[_ ]")


def alert_signatures(number: int) -> tuple[str, ...]:
    """The patterns by which TLS stacks spell alert ``number``."""
    rfc, go, nss, _ = ALERTS[number]
    sigs = [
        rf"\b(?:sslv3|tlsv1|tlsv13)[_ ](?:alert[_ ])?{_spaced(rfc)}\b",  # OpenSSL, Python, curl, git, nginx
        rf"received fatal alert:? {rfc}\b",  # Java JSSE
        rf"received fatal alert:? {rfc.replace('_', '')}\b",  # PAN-OS decryption log (CertificateUnknown)
        rf"\balert[_ ]{_spaced(rfc)}\b",
        rf"\btls: {re.escape(go)}\b",  # Go crypto/tls (remote error: tls: ...)
        rf"\bfatal (?:alert|error) (?:code )?(?:is )?{number}\b",  # Schannel 36887 (alert) / 36888 (error code)
        rf"\b(?:ssl )?alert (?:number|code|description) {number}\b",  # OpenSSL 'SSL alert number 48'
        rf"\bTLS1?_ALERT_[A-Z_]*\b[^\n]{{0,3}}\b{number}\b",  # Schannel/winerror names with number
    ]
    if nss:
        sigs.append(rf"\b{nss}\b")
    return tuple(sigs)


def alert_number(text: str) -> int | None:
    """The alert named in ``text`` (an ``ssl.SSLError`` reason or any error text), or None."""
    m = _OPENSSL_REASON.search(text)
    if m:
        name = m.group(1).lower()
        if name in _BY_NAME:
            return _BY_NAME[name]
    m = _TEXT_NUMBER.search(text)
    if m and int(m.group(1)) in ALERTS:
        return int(m.group(1))
    lowered = text.lower()
    for number, (rfc, go, nss, _) in ALERTS.items():
        if f"fatal alert: {rfc}" in lowered or f"tls: {go.lower()}" in lowered or (nss and nss.lower() in lowered):
            return number
    return None


def _entry(number: int, title: str, cause: str, fix: str, *, refs: tuple[str, ...] = ()) -> Failure:
    rfc, _, _, schannel = ALERTS[number]
    return Failure(
        code=f"tls-alert-{number}",
        area="general",
        title=f"TLS alert {number} {rfc}: {title}",
        cause=cause,
        fix=fix,
        references=(_RFC8446, _RFC5246, _SCHANNEL, _GO, *refs),
        windows=(f"Schannel event 36887/36888: The TLS protocol defined fatal alert code is {number}", schannel),
        status=502,
        signatures=alert_signatures(number),
        tls_alerts=(number,),
    )


ENTRIES: tuple[Failure, ...] = (
    _entry(10, "a message arrived out of order",
           "The peer received a TLS message it did not expect at that point: often a middlebox that altered the "
           "handshake, or a peer that does not implement the negotiated version correctly.",
           "Capture the handshake on both sides of any proxy or load balancer; update the peer's TLS stack."),
    _entry(20, "a record failed its integrity check",
           "A record's MAC or AEAD tag did not verify: data was altered on the wire (a broken middlebox, NIC "
           "offload bug) or the two sides derived different keys.",
           "Look for devices that rewrite TCP payloads between the peers; disable TCP offloads to test."),
    _entry(43, "the certificate type is not supported",
           "The peer received a certificate of a type it does not support (key algorithm or curve).",
           "Issue the certificate with a key type both sides support (RSA 2048+/P-256)."),
    _entry(44, "the peer says the certificate is revoked",
           "The side that sent the alert found the certificate it received (often a client certificate) on "
           "its CRL or OCSP answer.",
           "Issue a new certificate; do not re-use a revoked one.", refs=("RFC 5280 §5",)),
    _entry(45, "the peer says the certificate has expired",
           "The side that sent the alert rejected the certificate it received as expired or not yet valid: a "
           "client certificate past notAfter, or a clock that is wrong on that side.",
           "Renew the certificate the alerting side received; check both clocks (NTP).",
           refs=("RFC 5280 §4.1.2.5",)),
    _entry(46, "the peer could not accept the certificate",
           "Some unspecified issue made the certificate unacceptable to the side that sent the alert: Java "
           "sends certificate_unknown when its trust store has no path to the issuer (for example an "
           "inspecting proxy's CA), Schannel when a client certificate fails its checks.",
           "Add the issuing CA (e.g. the proxy's CA) to the alerting side's trust store (Java: cacerts / "
           "javax.net.ssl.trustStore), or exempt the destination from HTTPS inspection."),
    _entry(47, "a handshake field had an illegal value",
           "A field in the handshake was out of range or inconsistent (for example a signature algorithm or "
           "group the sender never offered).",
           "Update the TLS stack that sent the bad value; compare offered groups and signature algorithms."),
    _entry(49, "the peer refused access",
           "The peer's access control refused the connection after a valid certificate (client certificate "
           "not authorised for this service).",
           "Grant the certificate's subject access on the server, or present another certificate."),
    _entry(50, "a handshake message could not be decoded",
           "A message could not be parsed: a non-TLS peer, a truncated record, or a middlebox that altered "
           "the handshake.",
           "Check that the port speaks TLS directly (not behind a plain-HTTP proxy port) and that nothing "
           "rewrites the stream."),
    _entry(51, "a handshake signature or Finished did not verify",
           "A handshake signature or the Finished message failed to verify: wrong key for the certificate, "
           "or the handshake was altered in transit.",
           "Check the certificate matches its private key; look for devices that alter the handshake."),
    _entry(70, "no common TLS protocol version",
           "The peer does not support the protocol version offered: a client limited to TLS 1.0/1.1 against "
           "a server that requires TLS 1.2+, or the reverse.",
           "Enable TLS 1.2 on the old side (.NET: SchUseStrongCrypto / SystemDefaultTlsVersions; Windows: "
           "Schannel protocol keys); do not lower the server below TLS 1.2.",
           refs=("https://learn.microsoft.com/en-us/dotnet/framework/network-programming/tls",)),
    _entry(71, "the offered cipher suites are too weak",
           "The peer requires stronger cipher suites than the other side offered.",
           "Enable modern ECDHE/AES-GCM suites on the client; remove legacy-only cipher policies."),
    _entry(80, "the peer had an internal error",
           "The peer failed for a reason unrelated to the protocol (no certificate configured for the SNI "
           "name, a missing private key, memory).",
           "Look at the alerting side's own log; check it has a certificate and key for the requested name."),
    _entry(86, "a protocol downgrade was refused",
           "The client retried with a lower version and signalled TLS_FALLBACK_SCSV; the server supports a "
           "higher version, so it refused the downgrade (usually after a middlebox broke the first attempt).",
           "Find what broke the first, higher-version handshake (a proxy or firewall that mishandles TLS 1.3)."),
    _entry(112, "the server does not serve that host name (SNI)",
           "The server has no certificate or virtual host for the SNI name the client sent (an inspecting "
           "proxy or a client that sends the wrong name).",
           "Add the name to the server's certificate bindings (IIS SNI binding, nginx server_name) or use the "
           "published name."),
    _entry(120, "no common application protocol (ALPN)",
           "The server supports none of the ALPN protocols the client offered (for example only h2 offered to a "
           "server that speaks HTTP/1.1, or the reverse).",
           "Offer http/1.1 as well as h2, or enable the protocol on the server."),
)
