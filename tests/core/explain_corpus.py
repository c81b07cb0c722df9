"""Public error texts as other software prints them, with the registry code ``explain`` must name.

Each case is ``(text, expected code, source)``; the source names where the wording comes
from (the program's source or documentation, a knowledge-base article, an issue thread).
Host names, users and numbers inside the texts are replaced by example values; the
wording is the program's. ``NEGATIVE`` are out-of-scope errors that must match nothing.
"""

from __future__ import annotations

# Sources (cited per case by key)
SRC = {
    "openssl-x509": "OpenSSL crypto/x509/x509_txt.c (X509_verify_cert_error_string); openssl-verify(1)",
    "openssl-ssl": "OpenSSL ssl/ssl_err.c reason strings (SSL_R_*), as printed by Python ssl, curl, git, nginx",
    "curl": "curl libcurl-errors(3) and lib/vtls/openssl.c failf() texts; curl/curl#1859, "
            "chobits/ngx_http_proxy_connect_module#173 (curl: (56) Received HTTP code ... from proxy after CONNECT)",
    "curl-proxy": "curl lib/cf-h1-proxy.c 'CONNECT tunnel failed, response %d' (curl/curl#21084)",
    "git": "git over libcurl: 'fatal: unable to access ...' + curl error text (git http.c)",
    "python": "CPython Modules/_ssl.c ([SSL: REASON] text (_ssl.c:N)); requests/urllib3 exception texts "
              "(cubewise-code/tm1py#531: Tunnel connection failed: 407)",
    "go-tls": "Go crypto/tls alert.go alertText ('tls: ' + text; 'remote error: ' prefix), conn.go, handshake",
    "go-x509": "Go crypto/x509 verify.go error strings (UnknownAuthorityError, CertificateInvalidError, HostnameError)",
    "go-net": "Go net/http and net (DNSError 'no such host', 'server gave HTTP response to HTTPS client')",
    "java": "OpenJDK sun.security.ssl Alert / SSLHandshakeException texts; sun.security.validator PKIX messages",
    "java-krb": "OpenJDK sun.security.krb5.KrbException (message + '(code)') and internal/Krb5 error table",
    "dotnet": "Microsoft .NET System.Net / System.Security.Authentication exception messages "
              "(learn.microsoft.com/dotnet/api; dotnet/runtime Strings.resx)",
    "wcf": "WCF System.ServiceModel messages (learn.microsoft.com/dotnet/framework/wcf)",
    "winerror": "winerror.h message texts (MS-ERREF §2.1) as Win32Exception prints them",
    "chromium": "Chromium net/base/net_error_list.h (NET::ERR_*, ERR_*)",
    "nss": "NSS/Firefox lib/ssl/SSLerrs.h and security/manager error names (SEC_ERROR_*, SSL_ERROR_*, MOZILLA_PKIX_*)",
    "nginx": "nginx src/http/ngx_http_request.c, ngx_http_special_response.c, ngx_event_openssl.c, "
             "ngx_http_upstream.c log texts",
    "apache": "Apache httpd modules/ssl (AH02261, AH10158), mod_proxy (AH00898, AH01114) messages",
    "haproxy": "HAProxy src/ssl_sock.c / check.c status texts (Layer4/Layer6, 'SSL handshake failure')",
    "squid": "squid errors/templates (ERR_SECURE_CONNECT_FAIL, ERR_CACHE_ACCESS_DENIED, ERR_ACCESS_DENIED, "
             "ERR_DNS_FAIL, ERR_CONNECT_FAIL)",
    "mitmproxy": "mitmproxy proxy/layers/tls.py log texts ('Client TLS handshake failed. The client does not trust "
                 "the proxy's certificate')",
    "panos": "Palo Alto Networks PAN-OS decryption log 'Received fatal alert X from client/server'; decryption "
             "exclusions for client authentication",
    "schannel-alerts": "learn.microsoft.com/windows/win32/secauthn/schannel-error-codes-for-tls-and-ssl-alerts",
    "schannel-events": "learn.microsoft.com/previous-versions/windows/it-pro/windows-server-2012-R2-and-2012/"
                       "dn786445(v=ws.11) (Schannel events 36869-36888)",
    "kb230476": "Microsoft KB 230476 'Description of common Kerberos-related errors in Windows'; RFC 4120 §7.5.9",
    "kdc-events": "Windows Security events 4768/4769/4771 (Failure Code) and KDC events 14/16/27 "
                  "(learn.microsoft.com/windows-server/security/kerberos)",
    "mit": "MIT krb5 lib/krb5/error_tables/krb5_err.et and kinit/kvno messages; Heimdal krb5_err.et",
    "gssapi-apache": "mod_auth_gssapi 'GSS ERROR gss_accept_sec_context() failed: [...]' log lines",
    "iis": "learn.microsoft.com/troubleshoot/developer/webapps/iis/www-administration-management/http-status-code "
           "(IIS 403.7/403.13/403.16/403.17)",
    "exchange-mrs": "learn.microsoft.com/exchange/architecture/mailbox-servers/mrs-proxy-endpoint; "
                    "'Troubleshooting issues where the hybrid migration endpoint cannot be created' (exovoice blog)",
    "aadsts": "learn.microsoft.com/entra/identity-platform/reference-error-codes (AADSTS700016, AADSTS700027)",
    "appproxy": "learn.microsoft.com/entra/identity/app-proxy/application-proxy-back-end-kerberos-constrained-"
                "delegation-how-to; application-proxy-sign-in-bad-gateway-timeout-error",
    "aadc": "learn.microsoft.com/entra/identity/hybrid/connect/tshoot-connect-connectivity (407, machine.config)",
    "node": "Node.js / request library 'tunneling socket could not be established, statusCode=407' "
            "(postmanlabs/postman-app-support#9331)",
    "freebusy": "learn.microsoft.com/outlook/troubleshoot/calendaring/resolve-free-busy-errors "
                "(2000000 invalid_signature, 2000005 'is ambiguous')",
    "mip-sdk": "learn.microsoft.com/information-protection/develop/quick-app-initialization-cpp "
               "(2000001 invalid_token)",
    "sfb-exchange": "Microsoft Learn 'Skype for Business and Exchange integration fails if wildcards used in "
                    "AcceptedDomains entries' (Test-CsExStorageConnectivity, 2000004 invalid_tenant)",
    "qa-oauth": "Microsoft Q&A threads 1381627 (Test-OAuthConnectivity 2000005), 1524201 (2000009 invalid_issuer), "
                "1792037 (HMA ActiveSync 4000000 oauth_not_available)",
    "hajekj": "Jan Hajek, 'Using client_credentials with Microsoft Graph in Hybrid Exchange setup' "
              "(2000008 invalid_grant)",
    "ews-java": "EWS Java client response headers quoted in public code "
                "(2000003 'The audience claim value is invalid')",
    "entra-utr": "learn.microsoft.com/entra/global-secure-access/how-to-universal-tenant-restrictions (2000020)",
    "exchange-hma": "Exchange docs 'Using hybrid Modern Authentication with Outlook for iOS and Android' "
                    "(2000003 Expected https / Actual http: SSL offloading is not supported for OAuth)",
    "zscaler": "help.zscaler.com/zia/deploying-ssl-inspection (mutually authenticated TLS not decrypted: bypass); "
               "help.zscaler.com/zia/what-does-zscaler-consider-untrusted-server-certificate",
    "fortinet": "community.fortinet.com/t5/FortiGate/Technical-Tip-How-FortiGate-handles-Untrusted-SSL-certificate/"
                "ta-p/218813 (ssl-anomaly log, logid 1700062302); FortiSASE ta-p/308261 (certificate-status: "
                "expired, logid 1700062303); FortiGate SSL sample events (ssl-negotiation, unexpected-protocol, "
                "prophecyinternational.atlassian.net/wiki/x/6gFCQ)",
    "haproxy-conn": "HAProxy src/connection.c conn_err_code_str (CO_ER_SSL_CRT_FAIL, CO_ER_SSL_CA_FAIL, "
                    "CO_ER_SSL_MISMATCH_SNI), as in the Debian haproxy binary",
    "iis401": "support.microsoft.com/kb/907273 'Troubleshooting HTTP 401 errors in IIS'; David Wang, 'HOWTO: Diagnose "
              "401.x HTTP errors on IIS' (status, substatus, win32 columns)",
    "tmg": "Richard Hicks, 'Access to the Web Proxy Filter on Forefront TMG 2010 is Denied' (tmgblog.richardhicks.com, "
           "Status: 12209 ...); TMG error page 'Error Code: 407 Proxy Authentication Required ... (12209)'",
    "schannel-kaushal": "Kaushal Kumar Panday, 'SSL/TLS Alert Protocol & the Alert Codes' (blogs.msdn.microsoft.com/"
                        "kaushal, Schannel 36887 'The following fatal alert was received: 47.')",
    "schannel-ittrip": "en.ittrip.xyz/windows-server/schannel-error-fix-2022 (Event ID 36887 with the alert code)",
    "kerberos-event3": "Microsoft-Windows-Security-Kerberos event 3 'A Kerberos Error Message was received' "
                       "(ErrorCode/ErrorMessage fields; code911.top 'Kerberos 0x7 KDC_ERR_S_PRINCIPAL_UNKNOWN krbtgt')",
    "heimdal": "Heimdal 7.8 kinit / kgetcred messages (lib/krb5/krb5_err.et, kdc 'Client (%s) unknown'), as printed "
               "against the Heimdal KDC of tests/runtime/test_explain_heimdal.py",
    "hcw": "Andreas Dieckmann, 'Exchange Hybrid: HCW8064 OAuth' (diecknet.de 2020/05/01; HCW8064 text, "
           "Get-IntraOrganizationConnector Enabled False); support.microsoft.com/help/3089172",
    "hybrid-app": "blog.appelcloud.dk 'The Exchange Hybrid Wake-up Call: When Free/Busy Stops Working' "
                  "(Test-OAuthConnectivity output, configuration last loaded 01-01-0001, 403)",
    "kb3090197": "support.microsoft.com/kb/3090197 '401 Access denied error when you run the Test-OAuthConnectivity "
                 "cmdlet' (the SPN required for OAuth is missing)",
    "appproxy-proxy": "learn.microsoft.com/entra/identity/app-proxy/application-proxy-configure-connectors-with-proxy-"
                      "servers (connector behind an outbound proxy; msappproxy.net); connector event texts",
}

CASES: list[tuple[str, str, str]] = [
    # --- OpenSSL verify errors by number and text (curl, s_client, Python) ---
    ("curl: (60) SSL certificate problem: certificate has expired", "upstream-cert-expired", "curl"),
    ("curl: (60) SSL certificate problem: unable to get local issuer certificate", "upstream-cert-untrusted", "curl"),
    ("curl: (60) SSL certificate problem: self-signed certificate in certificate chain", "upstream-cert-untrusted",
     "curl"),
    ("curl: (60) SSL certificate problem: self signed certificate", "upstream-cert-untrusted", "curl"),
    ("curl: (60) SSL certificate problem: certificate is not yet valid", "upstream-cert-not-yet-valid", "curl"),
    ("curl: (60) SSL certificate problem: unable to verify the first certificate", "upstream-cert-untrusted", "curl"),
    ("curl: (60) SSL: no alternative certificate subject name matches target host name 'owa.example.com'",
     "upstream-cert-name-mismatch", "curl"),
    ("curl: (35) error:0A000410:SSL routines::sslv3 alert handshake failure", "tls-alert-40", "curl"),
    ("curl: (35) error:0A000418:SSL routines::tlsv1 alert unknown ca", "tls-alert-48", "curl"),
    ("curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0",
     "tls-alert-116", "curl"),
    ("curl: (35) error:0A00010B:SSL routines::wrong version number", "tls-wrong-version-number", "curl"),
    ("curl: (35) error:1408F10B:SSL routines:ssl3_get_record:wrong version number", "tls-wrong-version-number",
     "curl"),
    ("curl: (35) OpenSSL/3.0.11: error:0A00042E:SSL routines::tlsv1 alert protocol version", "tls-alert-70", "curl"),
    ("curl: (56) Received HTTP code 407 from proxy after CONNECT", "tmg-12209", "curl"),
    ("curl: (56) CONNECT tunnel failed, response 407", "tmg-12209", "curl-proxy"),
    ("curl: (56) Received HTTP code 403 from proxy after CONNECT", "tmg-12202", "curl"),
    ("curl: (58) unable to set private key file: 'client.key' type PEM", "client-cert-load-failed", "curl"),
    ("curl: (58) could not load PEM client certificate from client.pem, OpenSSL error error:80000002:system "
     "library::No such file or directory, (no key found, wrong pass phrase, or wrong file format?)",
     "client-cert-load-failed", "curl"),
    ("curl: (58) unable to use client certificate (no key found or wrong pass phrase?)", "client-cert-load-failed",
     "curl"),
    ("curl: (6) Could not resolve host: owa.example.com", "upstream-dns-failed", "curl"),
    ("curl: (7) Failed to connect to owa.example.com port 443 after 3 ms: Connection refused",
     "upstream-unreachable", "curl"),
    ("curl: (28) Operation timed out after 30001 milliseconds with 0 bytes received", "upstream-timeout", "curl"),
    ("fatal: unable to access 'https://git.example.com/repo.git/': SSL certificate problem: self-signed "
     "certificate in certificate chain", "upstream-cert-untrusted", "git"),
    ("fatal: unable to access 'https://git.example.com/repo.git/': server certificate verification failed. "
     "CAfile: /etc/ssl/certs/ca-certificates.crt CRLfile: none", "upstream-cert-untrusted", "git"),
    ("fatal: unable to access 'https://git.example.com/repo.git/': Received HTTP code 407 from proxy after CONNECT",
     "tmg-12209", "git"),
    ("fatal: unable to access 'https://git.example.com/repo.git/': error:0A00010B:SSL routines::wrong version "
     "number", "tls-wrong-version-number", "git"),
    ("fatal: unable to access 'https://git.example.com/repo.git/': SSL certificate problem: certificate has expired",
     "upstream-cert-expired", "git"),
    ("fatal: unable to access 'https://git.example.com/r.git/': OpenSSL SSL_connect: SSL_ERROR_SYSCALL in "
     "connection to git.example.com:443", "upstream-tls-failed", "git"),
    ("verify error:num=20:unable to get local issuer certificate", "upstream-cert-untrusted", "openssl-x509"),
    ("verify error:num=10:certificate has expired", "upstream-cert-expired", "openssl-x509"),
    ("verify error:num=62:hostname mismatch", "upstream-cert-name-mismatch", "openssl-x509"),
    ("verify error:num=18:self-signed certificate", "upstream-cert-untrusted", "openssl-x509"),
    ("verify error:num=23:certificate revoked", "upstream-cert-revoked", "openssl-x509"),
    ("verify error:num=26:unsupported certificate purpose", "upstream-cert-not-server", "openssl-x509"),
    ("verify error:num=9:certificate is not yet valid", "upstream-cert-not-yet-valid", "openssl-x509"),
    ("Verify return code: 19 (self-signed certificate in certificate chain)", "upstream-cert-untrusted",
     "openssl-x509"),
    ("Verify return code: 10 (certificate has expired)", "upstream-cert-expired", "openssl-x509"),
    ("Verify return code: 21 (unable to verify the first certificate)", "upstream-cert-untrusted", "openssl-x509"),
    ("X509_V_ERR_CERT_HAS_EXPIRED", "upstream-cert-expired", "openssl-x509"),
    ("X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "upstream-cert-untrusted", "openssl-x509"),
    ("X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT", "upstream-cert-untrusted", "openssl-x509"),
    ("X509_V_ERR_HOSTNAME_MISMATCH", "upstream-cert-name-mismatch", "openssl-x509"),
    ("X509_V_ERR_CERT_REVOKED", "upstream-cert-revoked", "openssl-x509"),
    ("X509_V_ERR_CERT_NOT_YET_VALID", "upstream-cert-not-yet-valid", "openssl-x509"),
    ("X509_V_ERR_INVALID_PURPOSE", "upstream-cert-not-server", "openssl-x509"),
    # --- Python ssl / requests ---
    ("ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get "
     "local issuer certificate (_ssl.c:1006)", "upstream-cert-untrusted", "python"),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain "
     "(_ssl.c:992)", "upstream-cert-untrusted", "python"),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1129)",
     "upstream-cert-expired", "python"),
    ("certificate verify failed: IP address mismatch, certificate is not valid for '10.0.0.5'. (_ssl.c:1006)",
     "upstream-cert-name-mismatch", "python"),
    ("ssl.SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", "tls-wrong-version-number",
     "python"),
    ("ssl.SSLError: [SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version (_ssl.c:1006)",
     "tls-alert-70", "python"),
    ("ssl.SSLError: [SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate (_ssl.c:2580)", "tls-alert-42",
     "python"),
    ("ssl.SSLError: [SSL: SSLV3_ALERT_CERTIFICATE_EXPIRED] sslv3 alert certificate expired (_ssl.c:2580)",
     "tls-alert-45", "python"),
    ("[SSL: SSLV3_ALERT_CERTIFICATE_UNKNOWN] sslv3 alert certificate unknown (_ssl.c:2580)", "tls-alert-46",
     "python"),
    ("[SSL: TLSV1_ALERT_ACCESS_DENIED] tlsv1 alert access denied (_ssl.c:2580)", "tls-alert-49", "python"),
    ("[SSL: TLSV1_ALERT_INTERNAL_ERROR] tlsv1 alert internal error (_ssl.c:1006)", "tls-alert-80", "python"),
    ("[SSL: TLSV1_UNRECOGNIZED_NAME] tlsv1 unrecognized name (_ssl.c:1006)", "tls-alert-112", "python"),
    ("[SSL: TLSV1_ALERT_NO_APPLICATION_PROTOCOL] tlsv1 alert no application protocol (_ssl.c:1006)",
     "tls-alert-120", "python"),
    ("[SSL: TLSV1_ALERT_DECODE_ERROR] tlsv1 alert decode error (_ssl.c:1006)", "tls-alert-50", "python"),
    ("[SSL: TLSV1_ALERT_DECRYPT_ERROR] tlsv1 alert decrypt error (_ssl.c:1006)", "tls-alert-51", "python"),
    ("[SSL: SSLV3_ALERT_ILLEGAL_PARAMETER] sslv3 alert illegal parameter (_ssl.c:1006)", "tls-alert-47", "python"),
    ("[SSL: TLSV1_ALERT_INSUFFICIENT_SECURITY] tlsv1 alert insufficient security (_ssl.c:1006)", "tls-alert-71",
     "python"),
    ("[SSL: SSLV3_ALERT_UNEXPECTED_MESSAGE] sslv3 alert unexpected message (_ssl.c:1006)", "tls-alert-10",
     "python"),
    ("[SSL: SSLV3_ALERT_BAD_RECORD_MAC] sslv3 alert bad record mac (_ssl.c:2580)", "tls-alert-20", "python"),
    ("[SSL: SSLV3_ALERT_CERTIFICATE_REVOKED] sslv3 alert certificate revoked (_ssl.c:2580)", "tls-alert-44",
     "python"),
    ("[SSL: SSLV3_ALERT_UNSUPPORTED_CERTIFICATE] sslv3 alert unsupported certificate (_ssl.c:2580)",
     "tls-alert-43", "python"),
    ("[SSL: TLSV1_ALERT_INAPPROPRIATE_FALLBACK] tlsv1 alert inappropriate fallback (_ssl.c:1006)", "tls-alert-86",
     "python"),
    ("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required (_ssl.c:2580)", "tls-alert-116",
     "python"),
    ("requests.exceptions.SSLError: HTTPSConnectionPool(host='login.microsoftonline.com', port=443): Max retries "
     "exceeded with url: / (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] "
     "certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)')))",
     "upstream-cert-untrusted", "python"),
    ("requests.exceptions.ProxyError: HTTPSConnectionPool(host='outlook.office365.com', port=443): Max retries "
     "exceeded with url: / (Caused by ProxyError('Unable to connect to proxy', OSError('Tunnel connection failed: "
     "407 Proxy Authentication Required')))", "tmg-12209", "python"),
    ("ssl.SSLError: [SSL] PEM lib (_ssl.c:3900)", "client-cert-load-failed", "python"),
    ("urllib3.exceptions.SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1129)",
     "tls-wrong-version-number", "python"),
    ("socket.gaierror: [Errno -2] Name or service not known", "upstream-dns-failed", "python"),
    ("ConnectionRefusedError: [Errno 111] Connection refused", "upstream-unreachable", "python"),
    # --- Go crypto/x509, crypto/tls, net ---
    ("x509: certificate signed by unknown authority", "upstream-cert-untrusted", "go-x509"),
    ("Get \"https://owa.example.com/\": tls: failed to verify certificate: x509: certificate signed by unknown "
     "authority", "upstream-cert-untrusted", "go-x509"),
    ("x509: certificate has expired or is not yet valid: current time 2024-09-10T10:00:00Z is after "
     "2024-09-01T00:00:00Z", "upstream-cert-expired", "go-x509"),
    ("x509: certificate has expired or is not yet valid: current time 2024-01-01T00:00:00Z is before "
     "2024-02-01T00:00:00Z", "upstream-cert-not-yet-valid", "go-x509"),
    ("x509: certificate is valid for mail.example.com, not owa.example.org", "upstream-cert-name-mismatch",
     "go-x509"),
    ("x509: certificate is not valid for any names, but wanted to match owa.example.org",
     "upstream-cert-name-mismatch", "go-x509"),
    ("x509: certificate relies on legacy Common Name field, use SANs instead", "upstream-cert-no-san", "go-x509"),
    ("x509: certificate specifies an incompatible key usage", "upstream-cert-not-server", "go-x509"),
    ("remote error: tls: bad certificate", "tls-alert-42", "go-tls"),
    ("remote error: tls: unknown certificate authority", "tls-alert-48", "go-tls"),
    ("remote error: tls: handshake failure", "tls-alert-40", "go-tls"),
    ("remote error: tls: protocol version not supported", "tls-alert-70", "go-tls"),
    ("remote error: tls: certificate required", "tls-alert-116", "go-tls"),
    ("remote error: tls: expired certificate", "tls-alert-45", "go-tls"),
    ("remote error: tls: unknown certificate", "tls-alert-46", "go-tls"),
    ("remote error: tls: internal error", "tls-alert-80", "go-tls"),
    ("remote error: tls: unrecognized name", "tls-alert-112", "go-tls"),
    ("remote error: tls: no application protocol", "tls-alert-120", "go-tls"),
    ("remote error: tls: access denied", "tls-alert-49", "go-tls"),
    ("remote error: tls: revoked certificate", "tls-alert-44", "go-tls"),
    ("tls: first record does not look like a TLS handshake", "tls-wrong-version-number", "go-tls"),
    ("proxyconnect tcp: tls: first record does not look like a TLS handshake", "tls-wrong-version-number",
     "go-tls"),
    ("http: server gave HTTP response to HTTPS client", "tls-wrong-version-number", "go-net"),
    ("tls: private key does not match public key", "client-cert-load-failed", "go-tls"),
    ("tls: failed to find any PEM data in certificate input", "client-cert-load-failed", "go-tls"),
    ("dial tcp: lookup owa.example.com on 10.0.0.53:53: no such host", "upstream-dns-failed", "go-net"),
    ("dial tcp 10.0.0.5:443: connect: connection refused", "upstream-unreachable", "go-net"),
    # --- Java JSSE and Kerberos ---
    ("javax.net.ssl.SSLHandshakeException: PKIX path building failed: "
     "sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to "
     "requested target", "upstream-cert-untrusted", "java"),
    ("javax.net.ssl.SSLHandshakeException: Received fatal alert: handshake_failure", "tls-alert-40", "java"),
    ("javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_unknown", "tls-alert-46", "java"),
    ("javax.net.ssl.SSLHandshakeException: Received fatal alert: bad_certificate", "tls-alert-42", "java"),
    ("javax.net.ssl.SSLHandshakeException: Received fatal alert: unknown_ca", "tls-alert-48", "java"),
    ("javax.net.ssl.SSLHandshakeException: Received fatal alert: protocol_version", "tls-alert-70", "java"),
    ("javax.net.ssl.SSLException: Received fatal alert: internal_error", "tls-alert-80", "java"),
    ("javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_expired", "tls-alert-45", "java"),
    ("javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_required", "tls-alert-116", "java"),
    ("javax.net.ssl.SSLHandshakeException: No subject alternative DNS name matching owa.example.com found.",
     "upstream-cert-name-mismatch", "java"),
    ("java.security.cert.CertificateExpiredException: NotAfter: Sun Sep 01 00:00:00 UTC 2024",
     "upstream-cert-expired", "java"),
    ("java.security.cert.CertificateNotYetValidException: NotBefore: Thu Feb 01 00:00:00 UTC 2024",
     "upstream-cert-not-yet-valid", "java"),
    ("javax.net.ssl.SSLException: Unsupported or unrecognized SSL message", "tls-wrong-version-number", "java"),
    ("javax.net.ssl.SSLHandshakeException: Remote host terminated the handshake", "upstream-tls-failed", "java"),
    ("sun.security.validator.ValidatorException: PKIX path validation failed: "
     "java.security.cert.CertPathValidatorException: Certificate has been revoked, reason: KEY_COMPROMISE",
     "upstream-cert-revoked", "java"),
    ("java.io.IOException: keystore password was incorrect", "client-cert-load-failed", "java"),
    ("java.io.IOException: Unable to tunnel through proxy. Proxy returns \"HTTP/1.1 407 Proxy Authentication "
     "Required\"", "tmg-12209", "java"),
    ("KrbException: Clock skew too great (37) - PROCESS_TGS", "krb-clock-skew", "java-krb"),
    ("KrbException: Server not found in Kerberos database (7) - LOOKING_UP_SERVER", "krb-principal-unknown",
     "java-krb"),
    ("KrbException: Client not found in Kerberos database (6) - CLIENT_NOT_FOUND", "krb-client-unknown",
     "java-krb"),
    ("KrbException: KDC has no support for encryption type (14)", "krb-etype-unsupported", "java-krb"),
    ("KrbException: Encryption type AES256 CTS mode with HMAC SHA1-96 is not supported/enabled",
     "krb-etype-unsupported", "java-krb"),
    ("KrbException: Request is a replay (34)", "krb-replay", "java-krb"),
    ("KrbException: KDC can't fulfill requested option (13) - BAD_OPTION", "krb-badoption", "java-krb"),
    ("KrbException: Specified version of key is not available (44)", "krb-wrong-keytab", "java-krb"),
    ("GSSException: Failure unspecified at GSS-API level (Mechanism level: Clock skew too great (37))",
     "krb-clock-skew", "java-krb"),
    # --- .NET, WCF, winerror ---
    ("System.Net.WebException: The underlying connection was closed: Could not establish trust relationship for "
     "the SSL/TLS secure channel. ---> System.Security.Authentication.AuthenticationException: The remote "
     "certificate is invalid according to the validation procedure.", "tls-cert-validation-failed", "dotnet"),
    ("System.Net.WebException: The request was aborted: Could not create SSL/TLS secure channel.",
     "tls-secure-channel-failed", "dotnet"),
    ("System.Net.Http.HttpRequestException: The SSL connection could not be established, see inner exception. "
     "---> System.Security.Authentication.AuthenticationException: The remote certificate is invalid because of "
     "errors in the certificate chain: UntrustedRoot", "upstream-cert-untrusted", "dotnet"),
    ("The remote certificate is invalid according to the validation procedure: RemoteCertificateNameMismatch",
     "upstream-cert-name-mismatch", "dotnet"),
    ("The remote certificate is invalid because of errors in the certificate chain: NotTimeValid",
     "upstream-cert-expired", "dotnet"),
    ("The remote certificate is invalid because of errors in the certificate chain: Revoked",
     "upstream-cert-revoked", "dotnet"),
    ("System.Security.Authentication.AuthenticationException: Authentication failed because the remote party has "
     "closed the transport stream.", "tls-secure-channel-failed", "dotnet"),
    ("System.Net.Http.HttpRequestException: The proxy tunnel request to proxy 'http://proxy.example.com:8080/' "
     "failed with status code '407'.", "tmg-12209", "dotnet"),
    ("System.Net.WebException: The remote server returned an error: (407) Proxy Authentication Required.",
     "tmg-12209", "dotnet"),
    ("System.ComponentModel.Win32Exception (0x80090325): The certificate chain was issued by an authority that is "
     "not trusted.", "upstream-cert-untrusted", "winerror"),
    ("System.ComponentModel.Win32Exception (0x8009030D): The credentials supplied to the package were not "
     "recognized", "client-cert-load-failed", "winerror"),
    ("System.Security.Authentication.AuthenticationException: Cannot determine the frame size or a corrupted frame "
     "was received.", "tls-wrong-version-number", "dotnet"),
    ("System.IO.IOException: The handshake failed due to an unexpected packet format.", "tls-wrong-version-number",
     "dotnet"),
    ("System.ComponentModel.Win32Exception (0x80090328): The received certificate has expired.",
     "upstream-cert-expired", "winerror"),
    ("System.ComponentModel.Win32Exception (0x80090322): The target principal name is incorrect.",
     "ntlm-wrong-principal", "winerror"),
    ("SSPI handshake failed with error code 0x80090322, state 14 while establishing a connection with integrated "
     "security", "ntlm-wrong-principal", "winerror"),
    ("InitializeSecurityContext failed: -2146893022", "ntlm-wrong-principal", "winerror"),
    ("System.Security.Authentication.AuthenticationException: A call to SSPI failed, see inner exception. ---> "
     "System.ComponentModel.Win32Exception: The function requested is not supported", "tls-alert-70", "winerror"),
    ("System.ComponentModel.Win32Exception (0x80090331): The client and server cannot communicate, because they do "
     "not possess a common algorithm.", "tls-alert-71", "winerror"),
    ("AcceptSecurityContext error 2148074310 (0x80090346)", "ntlm-bad-bindings", "winerror"),
    ("System.ServiceModel.Security.MessageSecurityException: The HTTP request is unauthorized with client "
     "authentication scheme 'Negotiate'. The authentication header received from the server was 'Negotiate,NTLM'.",
     "ntlm-ep-terminating-proxy", "wcf"),
    ("System.ServiceModel.Security.MessageSecurityException: The HTTP request is unauthorized with client "
     "authentication scheme 'Negotiate'. The authentication header received from the server was "
     "'Basic realm=\"mail.example.com\"'.", "auth-basic-only", "wcf"),
    ("System.ServiceModel.Security.SecurityNegotiationException: Could not establish trust relationship for the "
     "SSL/TLS secure channel with authority 'mail.example.com'.", "tls-cert-validation-failed", "wcf"),
    ("System.Net.Sockets.SocketException (10061): No connection could be made because the target machine "
     "actively refused it.", "upstream-unreachable", "dotnet"),
    ("System.Net.Sockets.SocketException (11001): No such host is known.", "upstream-dns-failed", "dotnet"),
    ("A connection attempt failed because the connected party did not properly respond after a period of time, or "
     "established connection failed because connected host has failed to respond (10060)", "upstream-unreachable",
     "dotnet"),
    # --- browsers ---
    ("NET::ERR_CERT_AUTHORITY_INVALID", "upstream-cert-untrusted", "chromium"),
    ("NET::ERR_CERT_DATE_INVALID", "upstream-cert-expired", "chromium"),
    ("NET::ERR_CERT_REVOKED", "upstream-cert-revoked", "chromium"),
    ("ERR_SSL_CLIENT_AUTH_CERT_NEEDED", "edge-client-cert-missing", "chromium"),
    ("ERR_BAD_SSL_CLIENT_AUTH_CERT", "tls-alert-42", "chromium"),
    ("ERR_SSL_VERSION_OR_CIPHER_MISMATCH", "tls-alert-40", "chromium"),
    ("ERR_PROXY_AUTH_UNSUPPORTED", "tmg-12209", "chromium"),
    ("SEC_ERROR_UNKNOWN_ISSUER", "upstream-cert-untrusted", "nss"),
    ("SEC_ERROR_EXPIRED_CERTIFICATE", "upstream-cert-expired", "nss"),
    ("SSL_ERROR_BAD_CERT_DOMAIN", "upstream-cert-name-mismatch", "nss"),
    ("MOZILLA_PKIX_ERROR_SELF_SIGNED_CERT", "upstream-cert-untrusted", "nss"),
    ("SEC_ERROR_REVOKED_CERTIFICATE", "upstream-cert-revoked", "nss"),
    ("SSL_ERROR_RX_RECORD_TOO_LONG", "tls-wrong-version-number", "nss"),
    ("SSL_ERROR_HANDSHAKE_FAILURE_ALERT", "tls-alert-40", "nss"),
    ("SSL_ERROR_UNKNOWN_CA_ALERT", "tls-alert-48", "nss"),
    ("SSL_ERROR_BAD_CERT_ALERT", "tls-alert-42", "nss"),
    ("MOZILLA_PKIX_ERROR_NOT_YET_VALID_CERTIFICATE", "upstream-cert-not-yet-valid", "nss"),
    ("SSL_ERROR_PROTOCOL_VERSION_ALERT", "tls-alert-70", "nss"),
    ("SSL_ERROR_EXPIRED_CERT_ALERT", "tls-alert-45", "nss"),
    # --- nginx, Apache, HAProxy, squid, mitmproxy, PAN-OS ---
    ("400 Bad Request\nNo required SSL certificate was sent\nnginx", "edge-client-cert-missing", "nginx"),
    ("400 Bad Request\nThe SSL certificate error\nnginx", "edge-client-cert-untrusted", "nginx"),
    ("400 Bad Request\nThe plain HTTP request was sent to HTTPS port\nnginx", "tls-wrong-version-number", "nginx"),
    ("upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream",
     "upstream-cert-expired", "nginx"),
    ("upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to "
     "upstream", "upstream-cert-untrusted", "nginx"),
    ("upstream SSL certificate does not match \"mail.example.com\" while SSL handshaking to upstream",
     "upstream-cert-name-mismatch", "nginx"),
    ("SSL_do_handshake() failed (SSL: error:0A000410:SSL routines::sslv3 alert handshake failure:SSL alert number "
     "40) while SSL handshaking to upstream", "tls-alert-40", "nginx"),
    ("SSL_do_handshake() failed (SSL: error:0A00045C:SSL routines::tlsv13 alert certificate required:SSL alert "
     "number 116) while SSL handshaking to upstream", "tls-alert-116", "nginx"),
    ("SSL_do_handshake() failed (SSL: error:0A000412:SSL routines::sslv3 alert bad certificate:SSL alert number 42)"
     " while SSL handshaking", "tls-alert-42", "nginx"),
    ("client SSL certificate verify error: (10:certificate has expired) while reading client request headers",
     "edge-client-cert-expired", "nginx"),
    ("client SSL certificate verify error: (20:unable to get local issuer certificate) while reading client "
     "request headers", "edge-client-cert-untrusted", "nginx"),
    ("client SSL certificate verify error: (23:certificate revoked) while reading client request headers",
     "edge-client-cert-revoked", "nginx"),
    ("SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to "
     "upstream", "tls-wrong-version-number", "nginx"),
    ("peer closed connection in SSL handshake while SSL handshaking to upstream", "upstream-tls-failed", "nginx"),
    ("connect() failed (111: Connection refused) while connecting to upstream", "upstream-unreachable", "nginx"),
    ("upstream timed out (110: Connection timed out) while reading response header from upstream",
     "upstream-timeout", "nginx"),
    ("AH02261: Re-negotiation handshake failed", "client-cert-requested-after-request", "apache"),
    ("AH10158: cannot perform post-handshake authentication", "client-cert-requested-after-request", "apache"),
    ("Bad Request: You're speaking plain HTTP to an SSL-enabled server port.", "tls-wrong-version-number",
     "apache"),
    ("AH00898: Error during SSL Handshake with remote server returned by /EWS/Exchange.asmx",
     "upstream-tls-failed", "apache"),
    ("AH01114: HTTP: failed to make connection to backend: mail.example.com", "upstream-unreachable", "apache"),
    ("Server be_exchange/ex01 is DOWN, reason: Layer6 invalid response, info: \"SSL handshake failure\"",
     "upstream-tls-failed", "haproxy"),
    ("Server be_exchange/ex01 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\"",
     "upstream-unreachable", "haproxy"),
    ("ERR_SECURE_CONNECT_FAIL Failed to establish a secure connection to 10.0.0.5. The system returned: (71) "
     "Protocol error (TLS code: X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)", "upstream-cert-untrusted",
     "squid"),
    ("ERR_SECURE_CONNECT_FAIL (TLS code: X509_V_ERR_CERT_HAS_EXPIRED) Certificate expired",
     "upstream-cert-expired", "squid"),
    ("ERR_CACHE_ACCESS_DENIED Cache Access Denied. Sorry, you are not currently allowed to request "
     "https://owa.example.com/ from this cache until you have authenticated yourself.", "tmg-12209", "squid"),
    ("ERR_ACCESS_DENIED Access control configuration prevents your request from being allowed at this time.",
     "tmg-12202", "squid"),
    ("ERR_DNS_FAIL Unable to determine IP address from host name owa.example.com", "upstream-dns-failed", "squid"),
    ("ERR_CONNECT_FAIL The system returned: (111) Connection refused", "upstream-unreachable", "squid"),
    ("Client TLS handshake failed. The client does not trust the proxy's certificate for owa.example.com "
     "(tlsv1 alert unknown ca)", "tls-alert-48", "mitmproxy"),
    ("Client TLS handshake failed. The client may not trust the proxy's certificate for owa.example.com.",
     "tls-alert-48", "mitmproxy"),
    ("Server TLS handshake failed. Certificate verify failed: unable to get local issuer certificate",
     "upstream-cert-untrusted", "mitmproxy"),
    ("Received fatal alert CertificateUnknown from client", "tls-alert-46", "panos"),
    ("Received fatal alert HandshakeFailure from server", "tls-alert-40", "panos"),
    ("Received fatal alert UnknownCA from client", "tls-alert-48", "panos"),
    # --- Windows Schannel events and alert table ---
    ("A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is 40.",
     "tls-alert-40", "schannel-events"),
    ("A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is 46.",
     "tls-alert-46", "schannel-events"),
    ("A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is 48.",
     "tls-alert-48", "schannel-events"),
    ("A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is 70.",
     "tls-alert-70", "schannel-events"),
    ("A fatal alert was generated and sent to the remote endpoint. This may result in termination of the "
     "connection. The TLS protocol defined fatal alert code is 42. The Windows SChannel error state is 1205.",
     "tls-alert-42", "schannel-events"),
    ("A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is 51.",
     "tls-alert-51", "schannel-events"),
    ("A fatal alert was generated and sent to the remote endpoint. The TLS protocol defined fatal alert code is 80.",
     "tls-alert-80", "schannel-events"),
    ("A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is 112.",
     "tls-alert-112", "schannel-events"),
    ("A fatal alert was generated and sent to the remote endpoint. The TLS protocol defined fatal alert code is 10.",
     "tls-alert-10", "schannel-events"),
    ("An TLS 1.2 connection request was received from a remote client application, but none of the cipher suites "
     "supported by the client application are supported by the server. The TLS connection request has failed.",
     "tls-alert-40", "schannel-events"),
    ("A fatal error occurred while creating a TLS client credential. The internal error state is 10013.",
     "tls-secure-channel-failed", "schannel-events"),
    ("A fatal error occurred when attempting to access the TLS server credential private key. The error code "
     "returned from the cryptographic module is 0x8009030D. The internal error state is 10001.",
     "client-cert-load-failed", "schannel-events"),
    ("The TLS client credential's certificate does not have a private key information property attached to it. "
     "This most often occurs when a certificate is backed up incorrectly and then later restored.",
     "client-cert-load-failed", "schannel-events"),
    ("The certificate received from the remote server was issued by an untrusted certificate authority. Because of "
     "this, none of the data contained in the certificate can be validated.", "upstream-cert-untrusted",
     "schannel-events"),
    ("The certificate received from the remote server does not contain the expected name. It is therefore not "
     "possible to determine whether we are connecting to the correct server. The server name we were expecting is "
     "mail.example.com.", "upstream-cert-name-mismatch", "schannel-events"),
    ("The certificate received from the remote server has either expired or is not yet valid.",
     "upstream-cert-expired", "schannel-events"),
    ("The certificate received from the remote server has been revoked. This means that the certificate authority "
     "that issued the certificate has invalidated it.", "upstream-cert-revoked", "schannel-events"),
    ("The remote server has requested TLS client authentication, but no suitable client certificate could be "
     "found. An anonymous connection will be attempted.", "edge-client-cert-missing", "schannel-events"),
    ("TLS1_ALERT_UNKNOWN_CA 48 SEC_E_UNTRUSTED_ROOT 0x80090325", "tls-alert-48", "schannel-alerts"),
    ("TLS1_ALERT_PROTOCOL_VERSION 70 SEC_E_UNSUPPORTED_FUNCTION 0x80090302", "tls-alert-70", "schannel-alerts"),
    ("TLS1_ALERT_CERTIFICATE_UNKNOWN 46 SEC_E_CERT_UNKNOWN 0x80090327", "tls-alert-46", "schannel-alerts"),
    ("TLS1_ALERT_INSUFFIENT_SECURITY 71 SEC_E_ALGORITHM_MISMATCH 0x80090331", "tls-alert-71", "schannel-alerts"),
    # --- Kerberos: Windows, MIT, Heimdal, GSSAPI ---
    ("0x7 (KRB_ERR_S_PRINCIPAL_UNKNOWN) \"Server not found in Kerberos database\"", "krb-principal-unknown",
     "kb230476"),
    ("0x6 (KRB_ERR_C_PRINCIPAL_UNKNOWN) \"Client not found in Kerberos database\"", "krb-client-unknown",
     "kb230476"),
    ("KDC_ERR_ETYPE_NOSUPP: KDC has no support for encryption type", "krb-etype-unsupported", "kb230476"),
    ("A Kerberos service ticket was requested. Failure Code: 0xE", "krb-etype-unsupported", "kdc-events"),
    ("A Kerberos service ticket was requested. Failure Code: 0xD", "krb-badoption", "kdc-events"),
    ("A Kerberos service ticket was requested. Failure Code: 0x7", "krb-principal-unknown", "kdc-events"),
    ("Kerberos pre-authentication failed. Failure Code: 0x25", "krb-clock-skew", "kdc-events"),
    ("While processing a TGS request for the target server http/mail.example.com, the account svc-web did not have "
     "a suitable key for generating a Kerberos ticket (the missing key has an ID of 18). The requested etypes were "
     "18. The accounts available etypes were 23.", "krb-etype-unsupported", "kdc-events"),
    ("The encryption type requested is not supported by the KDC.", "krb-etype-unsupported", "kdc-events"),
    ("The Kerberos client received a KRB_AP_ERR_MODIFIED error from the server ex01$. The target name used was "
     "HTTP/mail.example.com.", "krb-spn-duplicate", "kdc-events"),
    ("kinit: Clock skew too great while getting initial credentials", "krb-clock-skew", "mit"),
    ("kinit: KDC has no support for encryption type while getting initial credentials", "krb-etype-unsupported",
     "mit"),
    ("kinit: Client 'alice@EXAMPLE.TEST' not found in Kerberos database while getting initial credentials",
     "krb-client-unknown", "mit"),
    ("kinit: Cannot contact any KDC for realm 'EXAMPLE.TEST' while getting initial credentials",
     "krb-kdc-unreachable", "mit"),
    ("kvno: Server not found in Kerberos database while getting credentials for HTTP/web.example.test@EXAMPLE.TEST",
     "krb-principal-unknown", "mit"),
    ("gss_accept_sec_context() failed: Unspecified GSS failure.  Minor code may provide more information (, "
     "Request ticket server HTTP/web.example.test@EXAMPLE.TEST kvno 3 not found in keytab; keytab is likely out "
     "of date)", "krb-wrong-keytab", "gssapi-apache"),
    ("kinit: krb5_get_init_creds: Clock skew too great", "krb-clock-skew", "mit"),
    ("GSS ERROR gss_accept_sec_context() failed: [Unspecified GSS failure.  Minor code may provide more "
     "information (Request is a replay)]", "krb-replay", "gssapi-apache"),
    ("kvno: KDC can't fulfill requested option while getting credentials for HTTP/web@EXAMPLE.TEST",
     "krb-badoption", "mit"),
    # --- IIS ---
    ("HTTP Error 403.7 - Forbidden: The page you are attempting to access requires your browser to have a Secure "
     "Sockets Layer (SSL) client certificate that the Web server recognizes.", "edge-client-cert-missing", "iis"),
    ("HTTP Error 403.16 - Forbidden: Your client certificate is either not trusted or is invalid.",
     "edge-client-cert-untrusted", "iis"),
    ("HTTP Error 403.17 - Forbidden: Your client certificate has expired or is not yet valid.",
     "edge-client-cert-expired", "iis"),
    ("HTTP Error 403.13 - Forbidden: The client certificate used for this request has been revoked by the Web "
     "server.", "edge-client-cert-revoked", "iis"),
    # --- Exchange, Entra, App Proxy, Azure AD Connect ---
    ("MigrationPermanentException: The connection to the server 'mail.example.com' could not be completed. --> The "
     "call to 'https://mail.example.com/EWS/mrsproxy.svc' failed. Error details: The HTTP service located at "
     "https://mail.example.com/EWS/mrsproxy.svc is unavailable.", "mrsproxy-disabled", "exchange-mrs"),
    ("Get-WebServicesVirtualDirectory | fl MRSProxyEnabled\nMRSProxyEnabled : False", "mrsproxy-disabled",
     "exchange-mrs"),
    ("AADSTS700027: Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint "
     "of key used by client: '0123456789ABCDEF0123456789ABCDEF01234567']", "hybrid-oauth-not-configured", "aadsts"),
    ("AADSTS700016: Application with identifier '00000002-0000-0ff1-ce00-000000000000' was not found in the "
     "directory 'contoso.onmicrosoft.com'.", "hybrid-oauth-not-configured", "aadsts"),
    ("Incorrect Kerberos constrained delegation configuration in the on-premises Active Directory.",
     "appproxy-kcd-failed", "appproxy"),
    ("This corporate app can't be accessed. You are not authorized to access this application. Status Code: "
     "Forbidden", "appproxy-connector-unauthorized", "appproxy"),
    ("Azure AD Connect: The remote server returned an error: (407) Proxy Authentication Required.", "tmg-12209",
     "aadc"),
    ("Error: tunneling socket could not be established, statusCode=407", "tmg-12209", "node"),
    # x-ms-diagnostics as Exchange, Exchange Online and Microsoft 365 send them (issue 14: beyond 2000009)
    ("System.Net.WebException: The remote server returned an error: (401) Unauthorized. Boolean reloadConfig, "
     "diagnostics: 2000000; reason=\"The token has an invalid signature.\";error_category=\"invalid_signature\".",
     "oauth-invalid-signature", "freebusy"),
    ("Failed acquiring policy, Request failed with http status code: 401, x-ms-diagnostics: [2000001;reason=\"OAuth "
     "token submitted with the request cannot be parsed.\";error_category=\"invalid_token\"], correlationId:[5b731]",
     "oauth-invalid-token", "mip-sdk"),
    ("x-ms-diagnostics: 2000003;reason=\"The hostname component of the audience claim value is invalid. Expected "
     "'mail.contoso.com'. Actual 'hybrid.contoso.com'.\";error_category=\"invalid_resource\"",
     "oauth-audience-host-mismatch", "exchange-hma"),
    ("x-ms-diagnostics: 2000003;reason=\"The hostname component of the audience claim value is invalid. Expected "
     "'https://mail.contoso.com'. Actual 'http://mail.contoso.com'.\";error_category=\"invalid_resource\"",
     "oauth-host-header-missing", "exchange-hma"),
    ("X-BackEndHttpStatus: 401, x-ms-diagnostics: 2000003;reason=\"The audience claim value is invalid 'aud'.\";"
     "error_category=\"invalid_resource\", X-DiagInfo: DM5PR18MB1004", "oauth-audience-wrong-resource", "ews-java"),
    ("HTTP/1.1 401 Unauthorized x-ms-diagnostics: 2000004;reason=\"The tenant for tenant guid 'contoso.com' does not "
     "exist.\";error_category=\"invalid_tenant\" Server: Microsoft-IIS/8.5", "oauth-invalid-tenant", "sfb-exchange"),
    ("Exception Proxy web request failed. , inner exception: The request failed with HTTP status 401: Unauthorized "
     "diagnostics: 2000005;reason= \"The user specified by the user-context in the token is ambiguous.\" ;"
     "error_category=\"invalid_user\"", "oauth-invalid-user", "freebusy"),
    ("Microsoft.Exchange.Monitoring.TestOAuthConnectivityHelper.SendExchangeOAuthRequest(ADUser user, String "
     "orgDomain, Uri targetUri), diagnostics: 2000005;reason=\"The user specified by the user-context in the token "
     "does not exist.\";error_category=\"invalid_user\"", "oauth-invalid-user", "qa-oauth"),
    ("Bearer+client_id=\"00000002-0000-0ff1-ce00-000000000000\",+error=\"invalid_token\" 2000008;reason=\"The+token+"
     "should+have+valid+permissions+or+linked+account+associated+with+partner+application+'00000003-0000-0000-c000-"
     "000000000000'.\";error_category=\"invalid_grant\"", "oauth-invalid-grant", "hajekj"),
    ("SoapAutoDiscoverRequest.ExecuteAndHandleException(ExecuteAndHandleExceptionDelegate operation), diagnostics: "
     "2000009;reason=\"The issuer of the token is unknown. Issuer was '00000001-0000-0000-c000-000000000000@"
     "0b5d3f7e-1111-2222-3333-444455556666'.\";error_category=\"invalid_issuer\"", "oauth-unknown-issuer", "qa-oauth"),
    ("x-ms-diagnostics=4000000;reason=\"Flighting is not enabled for domain 'mail.contoso.com'.\";error_category="
     "\"oauth_not_available\" X-OWA-Version=15.2.1544.11", "oauth-not-available", "qa-oauth"),
    ("Restrict-Access-Confirm: 1 x-ms-diagnostics: 2000020;reason=\"xms_trpid claim was not present but sec-tenant-"
     "restriction-access-policy header was in requres\";error_category=\"insufficiant_claims\"",
     "oauth-tenant-restriction-claims", "entra-utr"),
    # --- issue 14 audit: families that had none or one case (Zscaler, Fortinet, HAProxy/Apache client
    # certificates, IIS 401.x, TMG text, Schannel event IDs, Kerberos events in hex/decimal, Heimdal, SSPI
    # signed decimals, HCW, Test-OAuthConnectivity, AADSTS500011, MRS, App Proxy, Azure AD Connect) ---
    ('Zscaler does not support the decryption of mutually authenticated TLS sessions. Ensure to update the '
     'global bypass list to bypass TLS sessions using Client Certificate Authentication.',
     'client-cert-under-inspection', 'zscaler'),
    ('The destination server certificate is considered untrusted by the service: the server certificate issuer '
     'is unknown or is not trusted by the service.', 'upstream-cert-untrusted', 'zscaler'),
    ('There is at least one expired certificate in the certificate chain for the server certificate.',
     'upstream-cert-expired', 'zscaler'),
    ('logid="1700062302" type="utm" subtype="ssl" eventtype="ssl-anomaly" level="notice" '
     'action="resign-as-untrusted" eventsubtype="certificate-anomaly" msg="Server certificate is re-signed as '
     'untrusted, certificate-status: untrusted " hostname="outlook.office.com"', 'upstream-cert-untrusted', 'fortinet'),
    ('fe_https/1: SSL client certificate not trusted', 'edge-client-cert-untrusted', 'haproxy-conn'),
    ('fe_https/1: SSL client CA chain cannot be verified', 'edge-client-cert-untrusted', 'haproxy-conn'),
    ('be_exchange/ex01: Server presented an SSL certificate different from the expected one',
     'upstream-cert-name-mismatch', 'haproxy-conn'),
    ('AH02039: Certificate Verification: Error (20): unable to get local issuer certificate',
     'edge-client-cert-untrusted', 'apache'),
    ('AH02039: Certificate Verification: Error (10): certificate has expired', 'edge-client-cert-expired', 'apache'),
    ('AH02263: Re-negotiation handshake failed: Client certificate missing',
     'client-cert-requested-after-request', 'apache'),
    ('HTTP Error 401.1 - Unauthorized: Access is denied due to invalid credentials.', 'ntlm-logon-failure', 'iis401'),
    ('2024-09-10 10:00:01 10.0.0.5 POST /EWS/Exchange.asmx - 443 - 10.0.0.9 Mozilla/4.0 401 1 2148074252 15',
     'ntlm-logon-failure', 'iis401'),
    ('HTTP Error 403.12 - Forbidden: Mapper denied access. The page you requested requires a client certificate, '
     'but your client certificate has been mapped to a Windows user account that is denied access.',
     'edge-client-cert-not-acceptable', 'iis'),
    ('Status: 12209 Forefront TMG requires authorization to fulfill the request. Access to the Web Proxy filter '
     'is denied.', 'tmg-12209', 'tmg'),
    ('Error Code: 407 Proxy Authentication Required. Forefront TMG requires authorization to fulfill the '
     'request. Access to the Web Proxy filter is denied. (12209)', 'tmg-12209', 'tmg'),
    ('Log Name: System Source: Schannel Event ID: 36887 Level: Error The following fatal alert was received: 47.',
     'tls-alert-47', 'schannel-kaushal'),
    ('Source: Schannel Event ID: 36888 The following fatal alert was generated: 40. The internal error state is '
     '1205.', 'tls-alert-40', 'schannel-kaushal'),
    ('Event ID 36887: A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert '
     'code is 70.', 'tls-alert-70', 'schannel-ittrip'),
    ('A Kerberos Error Message was received: on logon session Error Code: 0x7 KDC_ERR_S_PRINCIPAL_UNKNOWN Server '
     'Realm: CORP.EXAMPLE Server Name: krbtgt/OTHER.EXAMPLE', 'krb-principal-unknown', 'kerberos-event3'),
    ('Kerberos pre-authentication failed. Failure Code: 0x18 Pre-Authentication Type: 2',
     'krb-preauth-failed', 'kdc-events'),
    ('KrbException: Pre-authentication information was invalid (24)', 'krb-preauth-failed', 'java-krb'),
    ('KRB_AP_ERR_SKEW (37) Clock skew too great', 'krb-clock-skew', 'kb230476'),
    ('kinit: krb5_get_init_creds: Client (nobody@EXAMPLE.TEST) unknown', 'krb-client-unknown', 'heimdal'),
    ('kgetcred: krb5_get_creds: Server (HTTP/nothere.example.test@EXAMPLE.TEST) unknown',
     'krb-principal-unknown', 'heimdal'),
    ('kinit: krb5_get_init_creds: unable to reach any KDC in realm EXAMPLE.TEST', 'krb-kdc-unreachable', 'heimdal'),
    ('kinit: Password incorrect', 'krb-preauth-failed', 'heimdal'),
    ('AcceptSecurityContext failed: -2146893044', 'ntlm-logon-failure', 'winerror'),
    ('HRESULT -2146892986 from AcceptSecurityContext', 'ntlm-bad-bindings', 'winerror'),
    ('HCW8064 - The HCW has completed, but was not able to perform the OAuth portion of your Hybrid '
     'configuration. If you need features that rely on OAuth, you can try running the HCW again or manually '
     'configure OAuth.', 'hybrid-oauth-not-configured', 'hcw'),
    ('Get-IntraOrganizationConnector | fl\nEnabled : False', 'hybrid-oauth-not-configured', 'hcw'),
    ('Test-OAuthConnectivity -Service EWS -TargetUri https://outlook.office365.com/ews/exchange.asmx\nTask : '
     'Checking EWS API Call Under Oauth\nDetail : The configuration was last successfully loaded at 01-01-0001 '
     '00:00:00 UTC.\nSystem.Net.WebException: The remote server returned an error: (403) Forbidden.\nResultType '
     ': Error', 'hybrid-oauth-not-configured', 'hybrid-app'),
    ('401 Access denied error when you run the Test-OAuthConnectivity cmdlet: the service principal name (SPN) '
     "that's required for OAuth authentication is missing.", 'hybrid-oauth-not-configured', 'kb3090197'),
    ('AADSTS500011: The resource principal named https://mail.contoso.com was not found in the tenant named '
     'contoso.onmicrosoft.com.', 'hybrid-oauth-not-configured', 'aadsts'),
    ('Test-MigrationServerAvailability -ExchangeRemoteMove -RemoteServer mail.contoso.com\nResult : '
     "Failed\nMessage : The connection to the server 'mail.contoso.com' could not be completed.\nErrorDetail : "
     "The call to 'https://mail.contoso.com/EWS/mrsproxy.svc' failed. Error details: The remote server returned "
     'an error: (404) Not Found.', 'mrsproxy-disabled', 'exchange-mrs'),
    ('Event 13019: Microsoft AAD Application Proxy Connector cannot retrieve a Kerberos ticket on behalf of the '
     'user because of the following general API error: No authority could be contacted for authentication.',
     'appproxy-kcd-failed', 'appproxy'),
    ('The Connector was unable to connect to the service due to networking issues. The Connector tried to access '
     'the following URL: https://contoso.msappproxy.net', 'appproxy-connector-unauthorized', 'appproxy-proxy'),
    ('Azure AD Connect: System.Net.WebException: The remote server returned an error: (407) Proxy Authentication '
     'Required. Check the defaultProxy element in machine.config.', 'tmg-12209', 'aadc'),
    ('logid=1700062303 type="utm" subtype="ssl" action="blocked" eventtype="ssl-anomaly" '
     'hostname="expired.badssl.com" msg="SSL connection is blocked, certificate-status: expired." '
     'eventsubtype="certificate-anomaly"', 'upstream-cert-expired', 'fortinet'),
    ('logid="1702062101" type="utm" subtype="ssl" eventtype="ssl-negotiation" level="warning" action="blocked" '
     'service="HTTPS" dstport=8080 eventsubtype="unexpected-protocol" msg="SSL connection is blocked."',
     'tls-wrong-version-number', 'fortinet'),
]

NEGATIVE: list[str] = [
    "OSError: [Errno 28] No space left on device: '/var/log/app.log'",
    "No space left on device",
    "write error: disk quota exceeded",
    "Permission denied (publickey).",
    "ssh: connect to host 10.0.0.5 port 22: No route to host",
    "Host key verification failed.",
    "psycopg2.OperationalError: FATAL:  password authentication failed for user \"app\"",
    "ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: YES)",
    "sqlite3.OperationalError: database is locked",
    "ORA-12154: TNS:could not resolve the connect identifier specified",
    "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    main()\n"
    "ZeroDivisionError: division by zero",
    "KeyError: 'user_id'",
    "ModuleNotFoundError: No module named 'yaml'",
    "java.lang.NullPointerException\n\tat com.example.App.main(App.java:10)",
    "Segmentation fault (core dumped)",
    "kernel: Out of memory: Killed process 1234 (java) total-vm:4096kB",
    "npm ERR! code ERESOLVE\nnpm ERR! ERESOLVE unable to resolve dependency tree",
    "fatal: not a git repository (or any of the parent directories): .git",
    "error: failed to push some refs to 'origin'",
    "E: Unable to locate package libfoo-dev",
    "The process cannot access the file because it is being used by another process.",
    "docker: Error response from daemon: pull access denied for foo, repository does not exist",
    "MemoryError",
    "IndentationError: unexpected indent",
    "make: *** [Makefile:12: all] Error 2",
    "SyntaxError: invalid syntax",
    "pg_dump: error: connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: No such file or "
    "directory",
    "Deadlock found when trying to get lock; try restarting transaction",
    "ssh: Could not resolve hostname gitlab.example: Name or service not known",
    "psql: error: could not connect to server: Connection refused\n\tIs the server running on host \"db\" and "
    "accepting TCP/IP connections on port 5432?",
    "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection refused.",
    "A Kerberos Error Message was received: on logon session Error Code: 0x19 KDC_ERR_PREAUTH_REQUIRED",
    "ENOSPC: no space left on device, write",
    "sshd[123]: Failed password for invalid user admin from 10.0.0.1 port 5555 ssh2",
    "java.lang.OutOfMemoryError: Java heap space",
]
