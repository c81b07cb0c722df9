"""Failure entries of the general area: TLS alerts, TMG policy codes, generic certificate texts.

TLS alert numbers (40, 42, 48, 116) are too small for ``numbers``; they are matched by the
names OpenSSL, Python and Schannel print ("sslv3 alert handshake failure", "fatal alert
code is 40").
"""

from __future__ import annotations

from bridgehead.failures.model import Failure
from bridgehead.failures.tls_alerts import alert_signatures

_RFC8446_ALERT = "RFC 8446 §6.2 (error alerts)"
_RFC5246_ALERT = "RFC 5246 §7.2.2 (error alerts)"
_SCHANNEL = "https://learn.microsoft.com/en-us/windows/win32/secauthn/schannel-error-codes-for-tls-and-ssl-alerts"
_TMG_LOG = "https://learn.microsoft.com/en-us/previous-versions/tn-archive/ee658156(v=technet.10)"

ENTRIES: tuple[Failure, ...] = (
    Failure(
        code="tls-alert-40",
        tls_alerts=(40,),
        area="general",
        title="TLS alert 40 handshake_failure",
        cause="The peer found no acceptable set of parameters (no common cipher suite, signature algorithm "
        "or group), or, in TLS 1.2, required a client certificate and received none.",
        fix="Compare both sides' TLS versions and cipher suites ('bridgehead probe', openssl s_client); if "
        "the server asks for a client certificate, supply one or let the proxy tunnel the connection.",
        references=(_RFC8446_ALERT, _RFC5246_ALERT, _SCHANNEL),
        windows=("Schannel event 36887: The TLS protocol defined fatal alert code is 40",
                 "SEC_E_ILLEGAL_MESSAGE 0x80090326"),
        status=502,
        signatures=(
            *alert_signatures(40),
            r"(?:sslv3[_ ])?alert[_ ]handshake[_ ]failure",
            r"handshake_failure",
            r"fatal alert (code )?(is )?40\b",
            r"\balert(?: number)? 40\b",
            r"\bSEC_E_ILLEGAL_MESSAGE\b",
        ),
        numbers=(0x80090326,),
    ),
    Failure(
        code="tls-alert-42",
        tls_alerts=(42,),
        area="general",
        title="TLS alert 42 bad_certificate",
        cause="The peer rejected the certificate it received (corrupt, wrong signature, or a client "
        "certificate it could not verify).",
        fix="Check the certificate chain the rejecting side expects (issuer, EKU, key type).",
        references=(_RFC8446_ALERT, _RFC5246_ALERT, _SCHANNEL),
        windows=("Schannel event 36887: fatal alert code is 42",),
        status=502,
        signatures=(
            *alert_signatures(42),
            r"alert[_ ]bad[_ ]certificate",
            r"fatal alert (code )?(is )?42\b",
            r"\balert(?: number)? 42\b",
        ),
    ),
    Failure(
        code="tls-alert-48",
        tls_alerts=(48,),
        area="general",
        title="TLS alert 48 unknown_ca",
        cause="The peer could not build a chain to a CA it trusts for the certificate it received: a client "
        "certificate from a CA outside the server's trust list, or a server certificate from an internal CA "
        "the client does not know (e.g. an inspecting proxy's CA).",
        fix="Add the issuing CA to the trust store of the side that sent the alert, or present a "
        "certificate from a CA it trusts.",
        references=(_RFC8446_ALERT, _RFC5246_ALERT, _SCHANNEL),
        windows=("Schannel event 36887: fatal alert code is 48",),
        status=502,
        signatures=(
            *alert_signatures(48),
            r"alert[_ ]unknown[_ ]ca",
            r"fatal alert (code )?(is )?48\b",
            r"\balert(?: number)? 48\b",
        ),
    ),
    Failure(
        code="tls-alert-116",
        tls_alerts=(116,),
        area="general",
        title="TLS alert 116 certificate_required (TLS 1.3)",
        cause="A TLS 1.3 server required a client certificate and got none. In TLS 1.3 the client's "
        "handshake 'succeeds' and the alert arrives on the first read, so it often surfaces as a read error "
        "after the request was sent.",
        fix="Supply a client certificate, or (forward proxy) let the connection tunnel so the client's own "
        "certificate reaches the server.",
        references=("RFC 8446 §4.4.2.4", _RFC8446_ALERT),
        status=502,
        signatures=(
            *alert_signatures(116),
            r"alert[_ ]certificate[_ ]required",
            r"fatal alert (code )?(is )?116\b",
            r"\balert(?: number)? 116\b",
        ),
    ),
    Failure(
        code="tmg-12202",
        area="general",
        title="The proxy denied the requested URL (TMG 12202)",
        cause="An access rule denied the request (destination, URL set, category or user).",
        fix="Find the rule named in the log and allow the destination for this client, or explain the "
        "policy.",
        references=(_TMG_LOG,),
        tmg=12202,
        status=403,
        signatures=(r"\b12202\b", r"denied the specified uniform resource locator"),
    ),
    Failure(
        code="tmg-12209",
        area="general",
        title="The proxy requires authorization (TMG 12209, 407)",
        cause="The access rule needs an authenticated user and the client sent no (or unusable) proxy "
        "credentials; services running as SYSTEM or non-interactive tools often cannot answer 407.",
        fix="Allow the client anonymously for the needed destinations (a rule for the service's source "
        "host), or configure proxy credentials for it; .NET services (Azure AD Connect, the Application Proxy "
        "connector) read <defaultProxy useDefaultCredentials=\"true\"> in machine.config.",
        references=(_TMG_LOG, "RFC 9110 §15.5.8 (407)",
                    "https://learn.microsoft.com/en-us/entra/identity/hybrid/connect/tshoot-connect-connectivity"),
        tmg=12209,
        status=407,
        signatures=(
            r"\b12209\b",
            r"requires authorization to fulfill the request",
            r"\(407\) proxy authentication",
            r"received http code 407 from proxy after connect",  # curl (56)
            r"connect tunnel failed, response 407",  # curl >= 7.7x
            r"tunnel connection failed: 407",  # Python http.client / requests
            r"407 proxy authentication required",
            r"proxy authentication required",
            r"tunneling socket could not be established, statusCode=407",  # Node.js
            r"status code 407",
            r"ERR_PROXY_AUTH_UNSUPPORTED|ERR_PROXY_AUTH_REQUESTED",  # Chromium
        ),
    ),
    Failure(
        code="tls-cert-validation-failed",
        area="general",
        title="The remote certificate failed validation (.NET / Windows)",
        cause=".NET rejected the server certificate: expired, untrusted chain (e.g. an inspecting proxy's "
        "CA not trusted), or a name that does not match the URL (SslPolicyErrors "
        "RemoteCertificateNameMismatch / RemoteCertificateChainErrors).",
        fix="Open the URL with 'bridgehead probe' or a browser to see which check fails; trust the proxy CA "
        "on the client, fix the certificate name, or exempt the destination from inspection.",
        references=("RFC 5280 §6", "RFC 6125 §6"),
        windows=("System.Security.Authentication.AuthenticationException", "CERT_E_CHAINING 0x800B010A"),
        status=502,
        signatures=(
            r"the remote certificate is invalid according to the validation procedure",
            r"could not establish trust relationship for the ssl/tls secure channel",
            r"RemoteCertificateChainErrors",
        ),
        numbers=(0x800B010A,),
    ),
    Failure(
        code="tls-secure-channel-failed",
        area="general",
        title="Could not create SSL/TLS secure channel",
        cause="The Windows client could not complete the handshake: no common TLS version (TLS 1.2 not "
        "enabled for .NET: SchUseStrongCrypto), the server required a client certificate, or the server's "
        "cipher suites are not available on the client.",
        fix="Enable TLS 1.2 for .NET (SchUseStrongCrypto, SystemDefaultTlsVersions), check Schannel events "
        "36874/36887, and whether the server asks for a client certificate.",
        references=(_RFC8446_ALERT, _SCHANNEL),
        windows=("WebExceptionStatus.SecureChannelFailure",),
        status=502,
        signatures=(r"could not create ssl/tls secure channel",),
    ),
    Failure(
        code="log-contains-credentials",
        area="general",
        title="The log records Authorization header values (credentials in a log file)",
        cause="The web server logs a request header that carries credentials (IIS custom field "
        "cs(Authorization) / Request-Authorization): NTLM AUTHENTICATE messages, Basic passwords and Bearer "
        "tokens are readable by anyone who can read the log, and Bearer tokens can be replayed until they "
        "expire.",
        fix="Log it only while troubleshooting, then remove the custom field and delete or restrict the "
        "files. bridgehead prints decoded summaries (user, issuer, audience), never the values.",
        references=("RFC 9110 §11.6.2 (Authorization)", "RFC 6750 §5.3 (token leakage)"),
        status=200,
    ),
    Failure(
        code="admin-cross-site-refused",
        area="ops",
        title="The console refused a change that did not come from its own pages",
        cause="A POST to the admin console came from another origin (Origin / Sec-Fetch-Site name another site or "
        "port), or without the session's CSRF token, or with a token of an expired session: a page elsewhere "
        "tried to make the signed-in admin's browser change the configuration (cross-site request forgery).",
        fix="Make the change from the console's own page (reload it if the session expired and sign in again). "
        "If a legitimate tool posts to the console, use 'bridgehead config apply' from the command line instead; "
        "the console accepts changes only from its own forms.",
        references=("OWASP Cross-Site Request Forgery Prevention Cheat Sheet", "Fetch Metadata: Sec-Fetch-Site",
                    "RFC 6454 (The Web Origin Concept)"),
        status=403,
        signatures=(r"admin-cross-site-refused", r"cross-site or stale form"),
    ),
    Failure(
        code="admin-https-only",
        area="ops",
        title="The console listens with TLS: this request did not come through it",
        cause="[admin] has tls_cert/tls_key, so the console is served only through its HTTPS front (which checks "
        "admin client certificates); a request reached the console's private loopback port directly.",
        fix="Open the console at the https:// address 'bridgehead serve' prints (the [admin] listen address); "
        "nothing should connect to the private port.",
        references=("RFC 9110 §4.2.2 (https URI scheme)",),
        status=403,
        signatures=(r"admin-https-only", r"use the admin listener's HTTPS address"),
    ),
)
