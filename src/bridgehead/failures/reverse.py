"""Failure entries of the reverse area: the publishing proxy's edge and routes (scenarios S2, S3, S4).

Edge entries are raised by bridgehead's own listeners (client certificates, revocation);
``route-*`` and ``listener-*``/``revocation-no-max-age`` are configuration findings that the
configuration lint reports before anything breaks.
"""

from __future__ import annotations

from bridgehead.failures.model import Failure

_RFC8446_CR = "RFC 8446 §4.3.2 (CertificateRequest)"
_RFC5280_PATH = "RFC 5280 §6 (path validation)"
_RFC5280_CRL = "RFC 5280 §5 (CRL)"
_RFC6960 = "RFC 6960 (OCSP)"
_TMG_CERT = "https://learn.microsoft.com/en-us/previous-versions/tn-archive/cc995228(v=technet.10)"
_EP_EXCHANGE = (
    "https://learn.microsoft.com/en-us/exchange/plan-and-deploy/post-installation-tasks/security-best-practices/exchange-extended-protection"
)

ENTRIES: tuple[Failure, ...] = (
    Failure(
        code="edge-client-cert-missing",
        area="reverse",
        title="The listener requires a client certificate and the client sent none",
        cause="The listener asked for a certificate (CertificateRequest) and the client answered with an "
        "empty Certificate message: no certificate installed, none issued by a CA in the listener's trust "
        "list, or the user cancelled the selection.",
        fix="Install a certificate from a CA the listener trusts on the device, or enable the password "
        "fallback for this listener.",
        references=(_RFC8446_CR, "RFC 5246 §7.4.6"),
        tmg=12213,
        windows=("HTTP 403.7 Client certificate required",),
        status=403,
        signatures=(r"\b12213\b", r"requires a client certificate to (fulfill|complete) the request",
                    r"403\.7\b", r"no (client )?certificate (was )?(presented|sent|returned)"),
    ),
    Failure(
        code="edge-client-cert-untrusted",
        area="reverse",
        title="The client certificate was issued by a CA the listener does not trust",
        cause="The client's chain does not lead to a CA in the listener's client certificate trust list.",
        fix="Add the issuing CA to the listener's trust list (--client-ca), or issue the device a "
        "certificate from a trusted CA.",
        references=(_RFC5280_PATH,),
        tmg=12221,
        windows=("HTTP 403.16 Client certificate is untrusted or invalid", "CERT_E_UNTRUSTEDROOT 0x800B0109"),
        status=403,
        signatures=(r"\b12221\b", r"client certificate[\s\S]{0,60}(untrusted|not trusted)", r"403\.16\b"),
    ),
    Failure(
        code="edge-client-cert-not-acceptable",
        area="reverse",
        title="The client certificate does not meet the listener's restrictions",
        cause="The certificate is trusted but a restriction failed: required EKU (Client Authentication), "
        "issuer or subject restriction, or no mapping to a user.",
        fix="Compare the certificate (bridgehead cert show) with the listener's restrictions; issue a "
        "certificate with clientAuth EKU and the expected subject/UPN.",
        references=("RFC 5280 §4.2.1.12 (EKU)",),
        tmg=12222,
        windows=("HTTP 403.13/403.16",),
        status=403,
        signatures=(r"\b12222\b", r"client certificate[\s\S]{0,60}(not acceptable|restriction)"),
    ),
    Failure(
        code="edge-client-cert-revoked",
        area="reverse",
        title="The client certificate has been revoked",
        cause="The CRL or OCSP answer of the issuing CA lists the client certificate as revoked.",
        fix="Expected after revoking a lost device's certificate; issue a new certificate for a replacement "
        "device.",
        references=(_RFC5280_CRL, _RFC6960),
        windows=("HTTP 403.13 Client certificate revoked", "CRYPT_E_REVOKED 0x80092010"),
        status=403,
        signatures=(r"client certificate[\s\S]{0,40}revoked", r"403\.13\b"),
    ),
    Failure(
        code="edge-client-cert-expired",
        area="reverse",
        title="The client certificate has expired (or is not yet valid)",
        cause="The client certificate is outside its validity period (or the proxy's clock is wrong).",
        fix="Renew the device's certificate; check the proxy's clock.",
        references=("RFC 5280 §4.1.2.5",),
        windows=("HTTP 403.17 Client certificate has expired or is not yet valid",),
        status=403,
        signatures=(r"client certificate[\s\S]{0,40}(expired|not yet valid)", r"403\.17\b"),
    ),
    Failure(
        code="edge-revocation-unavailable",
        area="reverse",
        title="The revocation status of the client certificate could not be determined",
        cause="The CRL distribution point or OCSP responder was unreachable or returned stale data, and the "
        "listener is configured to fail closed.",
        fix="Make the CRL/OCSP URLs in the certificates reachable from the proxy; publish CRLs before "
        "nextUpdate; decide explicitly whether to fail open or closed.",
        references=(_RFC5280_CRL, _RFC6960, "RFC 5280 §4.2.1.13 (CRL distribution points)"),
        windows=("CRYPT_E_REVOCATION_OFFLINE 0x80092013", "CRYPT_E_NO_REVOCATION_CHECK 0x80092012"),
        status=403,
        signatures=(r"revocation server was offline", r"\bCRYPT_E_REVOCATION_OFFLINE\b",
                    r"unable to check revocation", r"\bCRYPT_E_NO_REVOCATION_CHECK\b"),
        numbers=(0x80092013, 0x80092012),
    ),
    Failure(
        code="revocation-cache-hours",
        area="reverse",
        title="A revoked certificate keeps working for hours (CRL caching)",
        cause="The proxy checks a cached CRL until its nextUpdate (often days; Windows caches CRLs and OCSP "
        "answers until they expire), so a revocation bites only when the cache expires, as the seed's "
        "commenter saw with TMG.",
        fix="Set an explicit freshness bound on the listener (revocation max-age in seconds), publish delta "
        "CRLs or use OCSP with short validity, and re-check established sessions.",
        references=(_RFC5280_CRL, _RFC6960, "RFC 5280 §5.1.2.5 (nextUpdate)"),
        status=403,
        signatures=(r"revok\w*[\s\S]{0,200}(hours|still work|keeps? working|cache)",),
    ),
    Failure(
        code="route-ep-cert-mismatch",
        area="reverse",
        title="The route terminates TLS with another certificate in front of a backend with Extended "
        "Protection",
        cause="The route re-encrypts (or offloads) with a certificate that is not the backend's: every "
        "channel-bound NTLM/Negotiate logon will fail with SEC_E_BAD_BINDINGS (ntlm-bad-bindings).",
        fix="Use 'mode = passthrough' for this route, or terminate with the backend's own certificate and "
        "key (bridgehead verifies they match at start), or set the backend's Extended Protection to None.",
        references=(_EP_EXCHANGE, "RFC 5929 §4"),
        status=502,
        signatures=(r"different certificate[\s\S]{0,200}extended protection",),
    ),
    Failure(
        code="route-offload-oauth",
        area="reverse",
        title="The route offloads TLS or rewrites Host on an OAuth path",
        cause="Exchange checks the token audience against Host and scheme; a route that forwards plain HTTP "
        "or another Host for /EWS, /Autodiscover, /OAB or /mapi makes every OAuth call fail with 2000003.",
        fix="Re-encrypt to the backend and preserve Host on these paths (preserve_host = true).",
        references=("RFC 7519 §4.1.3 (aud)", "RFC 9110 §7.2 (Host)"),
        exchange=("x-ms-diagnostics: 2000003 … error_category=\"invalid_resource\"",),
        status=401,
        signatures=(r"ssl[- ]offload\w*[\s\S]{0,200}(oauth|audience|2000003)",
                    r"(oauth|audience|2000003)[\s\S]{0,200}ssl[- ]offload\w*"),
    ),
    Failure(
        code="route-backend-requires-client-cert",
        area="reverse",
        title="The backend requires a client certificate and the route has no bridging certificate",
        cause="The backend's SSL settings are 'Require client certificates'; the user's certificate ends at "
        "the proxy (it is mapped to a Kerberos ticket), so the proxy must present a certificate of its own.",
        fix="Configure a bridging client certificate on the route (TMG: Bridging tab), or set the backend "
        "to Ignore/Accept when KCD carries the identity.",
        references=(_RFC8446_CR, _TMG_CERT),
        windows=("HTTP 403.7 from the backend",),
        status=502,
        signatures=(
            r"bridging[\s\S]{0,100}certificate",
            r"backend[\s\S]{0,60}requires? a client certificate",
        ),
    ),
    Failure(
        code="listener-no-trust-list",
        area="reverse",
        title="The client-certificate listener trusts every CA of the system store",
        cause="Without an explicit trust list any public CA's certificate would pass the TLS check and only "
        "the mapping would stop it.",
        fix="Give the listener a trust list limited to the company CA (--client-ca), as the seed recommends.",
        references=(_RFC5280_PATH,),
        status=403,
        signatures=(r"trust list[\s\S]{0,60}(empty|missing|not (set|configured))",),
    ),
    Failure(
        code="revocation-no-max-age",
        area="reverse",
        title="Revocation checking has no freshness bound",
        cause="The listener accepts a CRL/OCSP answer as long as the CA says it is valid, which can be days.",
        fix="Set revocation max-age (seconds) on the listener so a revocation takes effect within that time.",
        references=(_RFC5280_CRL, _RFC6960),
        status=403,
    ),
    Failure(
        code="edge-no-route",
        area="reverse",
        title="No publishing rule matches the request's host and path",
        cause="The listener has no route whose hosts and path prefixes match the request (TMG answered such "
        "requests from its listener with 404 or denied them by rule).",
        fix="Add the host name or path prefix to a [[route]] on this listener, or correct the client's URL.",
        references=("RFC 9110 §7.2 (Host)", "RFC 9110 §15.5.5 (404)"),
        status=404,
    ),
    Failure(
        code="edge-basic-logon-failed",
        area="reverse",
        title="The password fallback logon at the listener failed",
        cause="The route requires a client certificate or, as fallback, a Basic logon; the client sent no "
        "certificate and no valid user name and password.",
        fix="Check the user in the listener's basic_users file, or install a client certificate on the device.",
        references=("RFC 7617 (Basic)", "RFC 9110 §11.6.1 (WWW-Authenticate)"),
        windows=("HTTP 401.1 Logon failed",),
        status=401,
    ),
    Failure(
        code="config-cert-key-mismatch",
        area="reverse",
        title="A configured private key does not belong to its certificate",
        cause="A certificate/key pair of the configuration (a listener's certificates, a route's "
        "bridging_certificate) names a key file whose key is not the certificate's: OpenSSL refuses the pair "
        "(KEY_VALUES_MISMATCH) and the proxy cannot start.",
        fix="Point key at the private key of that certificate (compare 'openssl x509 -noout -pubkey -in CERT' "
        "with 'openssl pkey -pubout -in KEY'), or the certificate at the one issued for that key.",
        references=("RFC 5280 §4.1.2.7 (subjectPublicKeyInfo)", "OpenSSL SSL_CTX_check_private_key"),
        status=502,
        signatures=(r"KEY_VALUES_MISMATCH", r"key values mismatch", r"private key does not match"),
    ),
    Failure(
        code="config-file-unusable",
        area="reverse",
        title="A file named by the configuration cannot be used",
        cause="A certificate, key, CA or CRL file of the configuration exists but is not what its key needs "
        "(not PEM, an encrypted key, a certificate where a key belongs), so the proxy cannot start.",
        fix="Give the file the key asks for: PEM certificates (chain after the leaf) and an unencrypted PEM "
        "private key; check it with 'openssl x509 -in FILE' / 'openssl pkey -in FILE'.",
        references=("RFC 7468 (PEM)",),
        status=502,
        signatures=(r"cannot load the configuration's files",),
    ),
    Failure(
        code="kcd-gssapi-missing",
        area="reverse",
        title="Kerberos delegation needs python-gssapi, which is not installed",
        cause="A route says identity = \"kerberos\"; the delegator calls GSSAPI (S4U2Self/S4U2Proxy) through "
        "python-gssapi, an optional dependency that this installation does not have.",
        fix="Install the kerberos extra: pip install 'bridgehead[kerberos]' (it needs libkrb5 and its "
        "headers, Debian: libkrb5-dev), or change the route's identity.",
        references=("MS-SFU §3.1.5 (S4U)", "RFC 2743 (GSS-API)"),
        status=502,
        signatures=(r"No module named 'gssapi'",),
    ),
)
