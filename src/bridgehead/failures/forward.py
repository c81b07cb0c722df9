"""Failure entries of the forward proxy: HTTPS inspection and upstream TLS (scenario S1)."""

from __future__ import annotations

from bridgehead.failures.model import Failure

_TMG_INSPECT = "https://learn.microsoft.com/en-us/previous-versions/tn-archive/ee658156(v=technet.10)"
_RFC8446_CR = "RFC 8446 §4.3.2 (CertificateRequest)"
_RFC5246_CR = "RFC 5246 §7.4.4 (Certificate Request)"

ENTRIES: tuple[Failure, ...] = (
    Failure(
        code="client-cert-under-inspection",
        area="forward",
        title="The web site requires a client certificate that cannot be supplied under HTTPS inspection",
        cause=(
            "The server sent a TLS CertificateRequest. An inspecting proxy terminates the client's TLS with a "
            "certificate of its own CA and opens a second TLS session to the server; it holds no client "
            "certificate (and the client's private key never leaves the client), so mutual TLS cannot pass "
            "through decryption. The server certificate's EKU is not the signal; the CertificateRequest is."
        ),
        fix=(
            "Let the connection tunnel instead of inspecting it: rule 'on-client-cert-request = tunnel' (the "
            "default), an inspection exception by source (--exception-source HOST) or destination "
            "(--exception-destination DOMAIN), or configure a client certificate for this destination "
            "('present')."
        ),
        references=(_RFC8446_CR, _RFC5246_CR, _TMG_INSPECT),
        tmg=12229,
        exchange=("DirSync: The remote server returned an unexpected response: (502) Proxy Error",),
        status=502,
        signatures=(
            r"requires a client certificate,? but a client certificate cannot be supplied",
            r"https inspection is applied to the request",
            r"\b12229\b",
        ),
    ),
    Failure(
        code="client-cert-requested-after-request",
        area="forward",
        title="The server asked for a client certificate after the first HTTP request (renegotiation / "
        "post-handshake authentication)",
        cause=(
            "The server accepted the TLS handshake without a client certificate and asked for one only once it "
            "had seen the request path (TLS 1.2 renegotiation, as IIS and Apache do per virtual directory, or a "
            "TLS 1.3 post-handshake CertificateRequest). The connection can no longer be handed to the client: "
            "the client's ClientHello is long gone."
        ),
        fix=(
            "Retry: bridgehead has learned this destination and tunnels its next connections (see "
            "'bridgehead bypass list'). To make it permanent, add --exception-destination HOST."
        ),
        references=("RFC 5246 §7.4.1.1 (HelloRequest)", "RFC 8446 §4.6.2 (post-handshake authentication)"),
        tmg=12229,
        status=502,
        signatures=(r"renegotiat\w* .*client certificate", r"post-handshake auth"),
    ),
    Failure(
        code="upstream-cert-expired",
        hresult=(0x800B0101, 0x80090328),
        x509_errors=(10,),
        area="forward",
        title="The server certificate has expired",
        cause="The certificate the server presented is past its notAfter date.",
        fix="Renew the server certificate; until then, an exception for this destination bypasses inspection "
        "but not the client's own validation.",
        references=("RFC 5280 §4.1.2.5",),
        tmg=12225,
        windows=("CERT_E_EXPIRED 0x800B0101", "SEC_E_CERT_EXPIRED 0x80090328"),
        signatures=(r"certificate (has )?expired", r"\bCERT_E_EXPIRED\b", r"\b12225\b"),
    ),
    Failure(
        code="upstream-cert-not-yet-valid",
        x509_errors=(9,),
        area="forward",
        title="The server certificate is not yet valid",
        cause="The certificate's notBefore date is in the future (or the proxy's clock is behind).",
        fix="Check the clocks of the server and the proxy (NTP); reissue the certificate if its dates are wrong.",
        references=("RFC 5280 §4.1.2.5",),
        tmg=12224,
        signatures=(r"certificate is not yet valid", r"\b12224\b"),
    ),
    Failure(
        code="upstream-cert-untrusted",
        hresult=(0x800B0109, 0x80090325),
        x509_errors=(2, 18, 19, 20, 21, 27),
        area="forward",
        title="The server certificate was issued by a CA that is not trusted",
        cause="The chain the server sent does not lead to a CA in the proxy's trust store (system store plus "
        "--upstream-ca), or the server omitted an intermediate certificate.",
        fix="Add the issuing CA with --upstream-ca FILE (internal PKI), or have the server send its full chain.",
        references=("RFC 5280 §6",),
        tmg=12226,
        windows=("CERT_E_UNTRUSTEDROOT 0x800B0109", "SEC_E_UNTRUSTED_ROOT 0x80090325"),
        signatures=(r"unable to get local issuer", r"self[- ]signed certificate", r"untrusted root",
                    r"\bCERT_E_UNTRUSTEDROOT\b", r"\b12226\b"),
    ),
    Failure(
        code="upstream-cert-name-mismatch",
        hresult=(0x800B010F,),
        x509_errors=(62, 64),
        area="forward",
        title="The server certificate does not match the requested host name",
        cause="No subjectAltName of the server certificate matches the host the client asked for.",
        fix="Use the name the certificate is issued for, or have the server present a certificate for this name.",
        references=("RFC 6125 §6", "RFC 9110 §4.3.4"),
        tmg=12227,
        windows=("CERT_E_CN_NO_MATCH 0x800B010F",),
        signatures=(r"hostname mismatch", r"name mismatch", r"doesn't match", r"\bCERT_E_CN_NO_MATCH\b",
                    r"\b12227\b", r"RemoteCertificateNameMismatch", r"CN name does not match"),
    ),
    Failure(
        code="upstream-cert-not-server",
        hresult=(0x800B0110,),
        x509_errors=(26,),
        area="forward",
        title="The certificate presented by the server is not a server certificate",
        cause="The server certificate's extended key usage lacks Server Authentication (1.3.6.1.5.5.7.3.1).",
        fix="Issue the server a certificate with the serverAuth EKU.",
        references=("RFC 5280 §4.2.1.12",),
        tmg=12228,
        windows=("CERT_E_WRONG_USAGE 0x800B0110",),
        signatures=(r"unsupported certificate purpose", r"not a server certificate", r"\b12228\b"),
    ),
    Failure(
        code="upstream-cert-revoked",
        hresult=(0x80092010,),
        x509_errors=(23,),
        area="forward",
        title="The server certificate has been revoked",
        cause="The issuing CA's revocation information (CRL or OCSP) lists the server certificate as revoked.",
        fix="The server needs a new certificate; do not add an exception for a revoked certificate.",
        references=("RFC 5280 §5", "RFC 6960"),
        tmg=12230,
        windows=("CRYPT_E_REVOKED 0x80092010",),
        signatures=(r"certificate (has been )?revoked", r"\bCRYPT_E_REVOKED\b", r"\b12230\b"),
    ),
    Failure(
        code="upstream-ocsp-unavailable",
        hresult=(0x80092013,),
        area="forward",
        title="The server certificate's revocation status could not be checked (OCSP, fail = closed)",
        cause="The OCSP responder named in the server certificate's Authority Information Access did not give a "
        "usable answer within ocsp_timeout (unreachable, timed out, an error status, a bad signature, or "
        "'unknown'), and the OCSP policy for this destination is fail = closed, so the connection is refused.",
        fix="Make the responder reachable from the proxy (through the parent proxy if [[chain]] routes its host "
        "there) or raise ocsp_timeout; or set fail = \"open\" for this destination in [[ocsp]] (allowed and "
        "logged upstream-ocsp-soft-fail, as browsers do).",
        references=("RFC 6960 §2.3", "RFC 5280 §4.2.2.1", "RFC 5019"),
        windows=("CRYPT_E_REVOCATION_OFFLINE 0x80092013", "CERT_TRUST_REVOCATION_STATUS_UNKNOWN"),
        signatures=(r"upstream-ocsp-unavailable", r"\bCRYPT_E_REVOCATION_OFFLINE\b"),
    ),
    Failure(
        code="upstream-ocsp-soft-fail",
        area="forward",
        status=200,
        title="The server certificate's revocation status was unknown; the connection was allowed (OCSP, "
        "fail = open)",
        cause="The OCSP responder named in the server certificate's Authority Information Access did not give a "
        "usable answer within ocsp_timeout. The OCSP policy for this destination is fail = open (the default, "
        "as Chrome and Windows soft-fail), so the connection went on; a revoked certificate would not have been "
        "noticed while the responder was down.",
        fix="Make the responder reachable from the proxy (through the parent proxy if [[chain]] routes its host "
        "there); for destinations where a revoked certificate must never pass, set fail = \"closed\" in "
        "[[ocsp]].",
        references=("RFC 6960 §2.3", "RFC 5280 §4.2.2.1"),
        windows=("CERT_TRUST_REVOCATION_STATUS_UNKNOWN",),
        signatures=(r"upstream-ocsp-soft-fail",),
    ),
    Failure(
        code="upstream-cert-leaf-is-ca",
        hresult=(0x800B0103,),
        area="forward",
        title="The server presented a CA certificate as its server certificate",
        cause="The server certificate's Basic Constraints say CA:TRUE: it is a certification authority, not an "
        "end-entity certificate (often a self-made certificate from 'openssl req -x509' with the default v3_ca "
        "extensions). Firefox refuses it (MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY) and so does bridgehead.",
        fix="Issue the server an end-entity certificate (Basic Constraints CA:FALSE, EKU serverAuth) from the CA, "
        "and trust the CA with --upstream-ca.",
        references=("RFC 5280 §4.2.1.9", "CA/Browser Forum BR §7.1.2.7.8"),
        windows=("CERT_E_ROLE 0x800B0103",),
        signatures=(r"CA_CERT_USED_AS_END_ENTITY", r"\bCERT_E_ROLE\b", r"Basic Constraints CA:TRUE"),
    ),
    Failure(
        code="upstream-cert-no-san",
        area="forward",
        title="The server certificate names the host only in its subject CN (no subjectAltName)",
        cause="The certificate has no DNS or IP subjectAltName. Chrome (since 58) and Firefox ignore the subject "
        "common name for host names (NET::ERR_CERT_COMMON_NAME_INVALID, SSL_ERROR_BAD_CERT_DOMAIN), and so does "
        "bridgehead, even when the CN equals the host.",
        fix="Reissue the server certificate with the host name(s) in the subjectAltName extension (keep the CN "
        "if old clients need it).",
        references=("RFC 6125 §6.4.4", "RFC 2818 §3.1", "CA/Browser Forum BR §7.1.2.7.12"),
        signatures=(r"ERR_CERT_COMMON_NAME_INVALID", r"no (DNS/IP )?subjectAltName", r"missing subjectAltName"),
    ),
    Failure(
        code="upstream-cert-name-constraints",
        hresult=(0x800B0114,),
        x509_errors=(47, 48, 49, 51, 52, 53),
        area="forward",
        title="The server certificate violates a name constraint of its issuing CA",
        cause="A CA in the chain is constrained to certain names (Name Constraints: permitted or excluded DNS/IP "
        "subtrees, typical for enterprise subordinate CAs) and the server certificate names a host outside them "
        "(OpenSSL X509_V_ERR 47/48). The issuer itself is trusted; the certificate is not within its mandate.",
        fix="Have the server certificate issued by a CA whose name constraints include this host, or the CA's "
        "constraints extended; do not bypass inspection for it.",
        references=("RFC 5280 §4.2.1.10",),
        windows=("CERT_E_INVALID_NAME 0x800B0114",),
        signatures=(r"permitted subtree violation", r"excluded subtree violation", r"X509_V_ERR 4[78]\b",
                    r"\bCERT_E_INVALID_NAME\b"),
    ),
    Failure(
        code="upstream-cert-weak-signature",
        x509_errors=(68,),
        area="forward",
        title="A certificate in the server's chain is signed with MD5 or SHA-1",
        cause="The server certificate or an intermediate CA is signed with a hash that is no longer collision "
        "resistant (MD5, SHA-1; OpenSSL X509_V_ERR 68 'CA signature digest algorithm too weak'). Chrome, Firefox "
        "and Windows refuse SHA-1 server chains.",
        fix="Reissue the certificate (and the intermediate) with SHA-256 or better.",
        references=("RFC 6194", "RFC 9155", "CA/Browser Forum BR §7.1.3.2"),
        signatures=(r"digest algorithm too weak", r"ca md too weak", r"X509_V_ERR 68\b"),
    ),
    Failure(
        code="upstream-cert-weak-key",
        x509_errors=(66, 67),
        area="forward",
        title="The server certificate or its CA has a key that is too small",
        cause="A key in the server's chain is below the security level (RSA < 2048 bits; OpenSSL X509_V_ERR 66/67 "
        "'EE/CA certificate key too weak').",
        fix="Reissue the certificate with an RSA 2048+ or ECDSA P-256+ key.",
        references=("RFC 9325 §4.5", "CA/Browser Forum BR §6.1.5"),
        signatures=(r"certificate key too weak", r"ee key too small", r"ca key too small"),
    ),
    Failure(
        code="upstream-tls-rsa-key-exchange-only",
        area="forward",
        title="The server offers only static-RSA key exchange cipher suites",
        cause="The server accepts no ECDHE suite, only TLS_RSA_WITH_* (no forward secrecy: whoever obtains the "
        "server's key later can decrypt recorded sessions). bridgehead does not offer those suites by default; a "
        "second handshake offering only them succeeded, so this is why the first one failed.",
        fix="Enable ECDHE suites on the server (IIS: the Schannel cipher-suite order). Until then allow this "
        "destination explicitly: [[legacy_tls]] destination = [\"HOST\"] in the forward configuration.",
        references=("RFC 9325 §4.1", "RFC 5246 §7.4.7.1"),
        signatures=(r"only static-RSA key exchange",),
    ),
    Failure(
        code="upstream-tls-failed",
        area="forward",
        title="The TLS handshake with the server failed",
        cause="The server ended the handshake with an alert or closed the connection: no common protocol "
        "version or cipher suite, or it wanted something the proxy could not send.",
        fix="Compare the server's TLS settings with the proxy's (TLS 1.2/1.3); 'bridgehead probe' shows them.",
        references=("RFC 8446 §6.2",),
        signatures=(r"sslv3 alert handshake failure", r"tlsv1 alert"),
    ),
    Failure(
        code="upstream-unreachable",
        area="forward",
        title="The server could not be reached",
        cause="The TCP connection to the server was refused, reset or timed out.",
        fix="Check that the server is up and that routes and firewalls let the proxy reach it.",
        references=("RFC 9110 §15.6.3",),
        windows=("WSAECONNREFUSED 10061", "WSAETIMEDOUT 10060"),
        signatures=(r"connection refused", r"\b10061\b"),
        numbers=(10061, 10060),
    ),
    Failure(
        code="upstream-dns-failed",
        area="forward",
        title="The server's name could not be resolved",
        cause="DNS returned no address for the requested host.",
        fix="Check the spelling of the host and the proxy's DNS resolver.",
        references=("RFC 1035 §4.1.1 (RCODE 3, name error)", "POSIX getaddrinfo() EAI_NONAME",
                    "learn.microsoft.com/windows/win32/winsock/windows-sockets-error-codes-2 (WSAHOST_NOT_FOUND)"),
        windows=("WSAHOST_NOT_FOUND 11001",),
        signatures=(r"name or service not known", r"getaddrinfo failed", r"\b11001\b"),
        numbers=(11001,),
    ),
    Failure(
        code="upstream-timeout",
        area="forward",
        title="The server did not answer in time",
        cause="The server accepted the connection but sent nothing within the proxy's read timeout.",
        fix="Check the server's health; raise the timeout only if the server is known to be slow.",
        status=504,
        references=("RFC 9110 §15.6.5",),
    ),
    Failure(
        code="upstream-bad-response",
        area="forward",
        title="The server sent a response the proxy cannot parse",
        cause="The response head was malformed, too large, or framed ambiguously (conflicting Content-Length "
        "and Transfer-Encoding): relaying it could desynchronise the connection.",
        fix="Fix the server or the device in front of it; the access log names the parse error.",
        references=("RFC 9112 §6.3",),
    ),
    Failure(
        code="client-bad-request",
        area="forward",
        title="The client sent a request the proxy refuses to parse",
        cause="The request head was malformed or framed ambiguously (for example both Content-Length and "
        "Transfer-Encoding, or two different Content-Length values): a request smuggling risk.",
        fix="Fix the client; the access log names the exact parse error.",
        references=("RFC 9112 §6.3", "RFC 9112 §11.2"),
        status=400,
    ),
    Failure(
        code="client-head-too-large",
        area="forward",
        title="The request head is larger than the proxy accepts",
        cause="The request line and headers exceed the configured limit.",
        fix="Shorten the request (cookies, URL) or raise the limit.",
        references=("RFC 6585 §5",),
        status=431,
    ),
    Failure(
        code="client-timeout",
        area="forward",
        title="The client did not send its request in time",
        cause="The request head did not complete within the head deadline, or the request body arrived more "
        "slowly than the minimum body rate (a slow client or a slowloris attack holding connections open).",
        fix="Nothing to do for an attack (the connection was closed). For a genuinely slow link raise "
        "head_timeout / body_min_rate in the proxy's configuration; check what sits between the client and "
        "the proxy.",
        references=("RFC 9110 §15.5.9", "RFC 9112 §9.5"),
        status=408,
        signatures=(r"client-timeout", r"\b408 request time-?out\b"),
    ),
    Failure(
        code="client-too-many-connections",
        area="forward",
        title="The client has more connections open than the proxy allows",
        cause="The connection limit in total (max_connections) or per client address (max_connections_per_source) "
        "was reached; the new connection was closed at once so that other clients keep being served.",
        fix="Find what opens so many connections from that address (a loop, a scanner, a slowloris attack); "
        "raise the limit only for a known, trusted source such as a NAT gateway or a downstream proxy.",
        references=("RFC 6585 §4",),
        status=503,
        signatures=(r"client-too-many-connections", r"too many connections"),
    ),
    Failure(
        code="forward-rule-denied",
        area="forward",
        title="An access rule of the forward proxy denied the request (TMG 12202 equivalent)",
        cause="The request's source, destination, method or authenticated user matched a [[rule]] with action "
        "deny, or no rule allowed it (the default rule denies; without any rule only loopback sources are "
        "allowed). The page and the access log's 'rule' name the rule that decided.",
        fix="Read the rule named in the log: allow the destination for this source or user in a rule placed "
        "before it (rules are evaluated in order, first match wins), or explain the policy to the user. "
        "'bridgehead forward --check --config FILE' shows the rules in force.",
        references=("RFC 9110 §15.5.4 (403)", "TMG 12202: the Forefront TMG denied the specified URL"),
        status=403,
        signatures=(r"forward-rule-denied",),
    ),
    Failure(
        code="forward-h2-only-blocked",
        area="forward",
        title="A client that speaks only HTTP/2 was refused by the h2_only policy",
        cause="The client's TLS ClientHello offered h2 and not http/1.1 in ALPN (RFC 7301), and the forward "
        "proxy is configured with h2_only = \"block\" (--h2-only block): such clients are neither inspected "
        "nor tunnelled. Clients that offer both h2 and http/1.1 are inspected over h2 regardless.",
        fix="Set h2_only = \"inspect\" (the default: inspected over HTTP/2) or \"tunnel\" (spliced "
        "uninspected), or configure the client to offer http/1.1 as well.",
        references=("RFC 9113 §3.2 (starting HTTP/2 for https URIs)", "RFC 7301 §3.2 (ALPN)"),
        status=403,
        signatures=(r"forward-h2-only-blocked", r"h2_only = block"),
    ),
    Failure(
        code="client-cert-spliced",
        area="forward",
        title="A client-certificate connection was spliced end to end (informational)",
        cause="The server sent a TLS CertificateRequest during the upstream-first handshake; as configured "
        "(on_client_cert_request = tunnel, the default) the proxy replayed the client's own ClientHello to a "
        "fresh connection and spliced the sockets, so the client's certificate reached the server and the "
        "first connection succeeded. This is not a failure: the connection was not inspected.",
        fix="Nothing to fix. To inspect such a server instead, configure a client certificate for it "
        "([[client_cert_rule]] action = present); to refuse it, action = block (TMG 12229).",
        references=("RFC 8446 §4.3.2 (CertificateRequest)", "RFC 5246 §7.4.4"),
        status=200,
        signatures=(r"client-cert-spliced",),
    ),
    Failure(
        code="parent-proxy-auth-required",
        area="forward",
        title="The parent proxy asked for authentication (407) for a chained request",
        cause="The request is chained to a parent (upstream) proxy ('--parent' or a [[chain]] rule) and that "
        "proxy answered 407 Proxy Authentication Required: it wants credentials that were not configured, or "
        "refused the ones configured. The 407 is not passed on to the client, which could not answer it.",
        fix="Give the parent's user in the URL (via = \"http://user@parent:3128\") and its password in "
        "password_file / --parent-password-file or BRIDGEHEAD_PARENT_PASSWORD; check the account on the "
        "parent; or route the destination direct with a [[chain]] rule.",
        references=("RFC 9110 §15.5.8 (407)", "RFC 9110 §11.7.2 (Proxy-Authorization)", "RFC 7617 (Basic)"),
        status=502,
        signatures=(r"parent[- ]proxy[\s\S]{0,40}\b407\b", r"parent-proxy-auth-required"),
    ),
    Failure(
        code="parent-proxy-denied",
        area="forward",
        title="The parent proxy refused the chained request (403)",
        cause="The parent (upstream) proxy answered 403 Forbidden to the CONNECT or request bridgehead chained "
        "to it: one of its access rules denies this destination, port or source (squid: http_access deny, "
        "an SSL_ports/CONNECT restriction).",
        fix="Allow the destination on the parent proxy, or route it direct with a [[chain]] rule "
        "(via = \"direct\").",
        references=("RFC 9110 §15.5.4 (403)", "RFC 9110 §9.3.6 (CONNECT)"),
        status=502,
        signatures=(r"parent[- ]proxy[\s\S]{0,40}\b403\b", r"parent-proxy-denied"),
    ),
    Failure(
        code="parent-proxy-bad-gateway",
        area="forward",
        title="The parent proxy could not reach the destination (502/503/504 or another error)",
        cause="The parent (upstream) proxy accepted the chained CONNECT or request but answered with an error "
        "instead of a tunnel: it could not resolve or connect to the destination (squid ERR_DNS_FAIL, "
        "ERR_CONNECT_FAIL) or timed out.",
        fix="Check the destination from the parent proxy (its error page and log name the cause); if the "
        "destination is only reachable from here, route it direct with a [[chain]] rule.",
        references=("RFC 9110 §15.6.3 (502)", "RFC 9110 §15.6.5 (504)", "RFC 9110 §9.3.6 (CONNECT)"),
        status=502,
        signatures=(r"parent-proxy-bad-gateway",),
    ),
    Failure(
        code="parent-proxy-unreachable",
        area="forward",
        title="The parent proxy cannot be reached",
        cause="The request is chained to a parent (upstream) proxy, but no TCP connection to it could be made "
        "(refused, timed out, no route, its name does not resolve), or it did not answer in HTTP.",
        fix="Check the parent's address and port ('--parent' / [[chain]] via) and that it is running; route "
        "destinations that must keep working direct with a [[chain]] rule.",
        references=("RFC 9110 §9.3.6 (CONNECT)",),
        status=502,
        signatures=(r"parent-proxy-unreachable", r"parent proxy [\s\S]{0,60}(unreachable|refused)"),
    ),
    Failure(
        code="inspection-broke-channel-binding",
        area="forward",
        title="The inspection changed the TLS certificate the client bound to (Extended Protection)",
        cause="The client sent an NTLM AUTHENTICATE whose channel binding (MsvAvChannelBindings, the MD5 of "
        "'tls-server-end-point:' + the hash of the certificate it saw) was computed over the leaf bridgehead "
        "minted for the inspection, and the server answered 401: a server with Extended Protection compares "
        "it with the hash of its own certificate, and they differ. Every channel-bound logon through the "
        "inspecting proxy fails although the credentials are right.",
        fix="Retry: with on_channel_binding_failure = \"learn\" (the default) bridgehead has learned the "
        "destination and tunnels its next connections ('bridgehead bypass list'). To make it permanent, "
        "add --exception-destination HOST.",
        references=("RFC 5929 §4.1 (tls-server-end-point)", "MS-NLMP §2.2.2.1 (MsvAvChannelBindings)",
                    "https://learn.microsoft.com/en-us/iis/configuration/system.webserver/security/"
                    "authentication/windowsauthentication/extendedprotection/"),
        windows=("SEC_E_BAD_BINDINGS 0x80090346 on the server", "IIS 401 1 3221226331"),
        status=401,
        signatures=(r"inspection changed the tls certificate the client bound to",
                    r"inspection-broke-channel-binding"),
    ),
    Failure(
        code="upstream-h2-goaway",
        area="forward",
        title="The origin closed its HTTP/2 connection (GOAWAY) while client streams were waiting on it",
        cause="An inspected HTTP/2 client's streams are relayed on one HTTP/2 connection to the origin. The "
        "origin sent GOAWAY (RFC 9113 §6.8: a graceful shutdown after its request limit or a reload, or an "
        "error), so no stream can continue on that connection. Streams the origin never processed (above the "
        "GOAWAY's last stream id, or not yet sent) are answered with RST_STREAM REFUSED_STREAM, which clients "
        "retry on a new connection; a stream it may have processed gets this 502 page (or a reset once its "
        "response had started). bridgehead then sends GOAWAY to the client.",
        fix="Nothing, for an occasional graceful GOAWAY: the client retries the refused requests on a new "
        "tunnel. If it happens often, look at the origin's HTTP/2 request limit (nginx keepalive_requests, "
        "http2_max_requests) or at the error code named in the record's reason.",
        references=("RFC 9113 §6.8 (GOAWAY)", "RFC 9113 §8.7 (request reliability, REFUSED_STREAM)"),
        status=502,
        signatures=(r"upstream-h2-goaway", r"sent GOAWAY \("),
    ),
    Failure(
        code="upstream-h2-stream-reset",
        area="forward",
        title="The origin reset an HTTP/2 stream (RST_STREAM) before or while answering it",
        cause="The request went to the origin as a stream of an HTTP/2 connection and the origin ended it with "
        "RST_STREAM (RFC 9113 §6.4) and the error code named in the reason (PROTOCOL_ERROR for a request it "
        "judged malformed, INTERNAL_ERROR, CANCEL, ENHANCE_YOUR_CALM when it limits the client). Before the "
        "response the client gets this 502 page; after the response started its stream is reset, so a "
        "truncated response never looks complete (§8.1). REFUSED_STREAM before a response is passed on as "
        "REFUSED_STREAM (the client may retry).",
        fix="Look at the origin's error log for the stream; a PROTOCOL_ERROR names a request the origin refuses "
        "over HTTP/2 (a field it does not accept), ENHANCE_YOUR_CALM a rate limit on the origin.",
        references=("RFC 9113 §6.4 (RST_STREAM)", "RFC 9113 §7 (error codes)"),
        status=502,
        signatures=(r"upstream-h2-stream-reset", r"reset the stream \(RST_STREAM"),
    ),
)
