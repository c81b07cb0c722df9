"""The world's wording for failures the area modules define: extra signatures by code.

The area modules hold each failure's own texts; this module adds how *other* software
says the same thing — OpenSSL/curl/git, Python ``ssl``, Go ``crypto/x509``, Java JSSE,
.NET, Chromium and NSS error names, nginx, Apache, HAProxy, squid, mitmproxy, Windows
Schannel and KDC events, MIT/Heimdal/Java Kerberos, IIS substatus pages. The registry
appends them to the entry's ``signatures`` when it collects the entries, so an area module
can be edited without touching this list and the other way round.

``X509_NAMES`` maps OpenSSL's ``X509_V_ERR_*`` names to their numbers (include/openssl/
x509_vfy.h); ``explain`` turns a name or a number ("verify error:num=20", "Verify return
code: 21", nginx's "(10:certificate has expired)") into the entry whose ``x509_errors``
hold it. tests/core/explain_corpus.py holds the public texts these patterns are tested on,
each with its source.
"""

from __future__ import annotations

X509_NAMES: dict[str, int] = {
    "UNABLE_TO_GET_ISSUER_CERT": 2,
    "CERT_NOT_YET_VALID": 9,
    "CERT_HAS_EXPIRED": 10,
    "DEPTH_ZERO_SELF_SIGNED_CERT": 18,
    "SELF_SIGNED_CERT_IN_CHAIN": 19,
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": 20,
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE": 21,
    "CERT_REVOKED": 23,
    "INVALID_PURPOSE": 26,
    "CERT_UNTRUSTED": 27,
    "HOSTNAME_MISMATCH": 62,
    "IP_ADDRESS_MISMATCH": 64,
}

EXTRA: dict[str, tuple[str, ...]] = {
    "upstream-cert-expired": (
        r"certificate-status: ?expired",  # FortiGate / FortiSASE ssl-anomaly log (logid 1700062303)
        r"\bCertificateExpiredException\b",  # Java
        r"NET::ERR_CERT_DATE_INVALID",  # Chromium
        r"\bSEC_ERROR_EXPIRED(?:_ISSUER)?_CERTIFICATE\b",  # NSS
        r"certificate chain: NotTimeValid",  # .NET X509ChainStatusFlags
        r"the received certificate has expired",  # SEC_E_CERT_EXPIRED text
        r"certificate received from the remote server has either expired or is not yet valid",  # Schannel 36881
        r"\bcurrent time \S+ is after \S+",  # Go x509
    ),
    "upstream-cert-not-yet-valid": (
        r"\bCertificateNotYetValidException\b",
        r"MOZILLA_PKIX_ERROR_NOT_YET_VALID(?:_ISSUER)?_CERTIFICATE",
        r"is not yet valid: current time \S+ is before \S+",  # Go x509 (outweighs 'has expired')
    ),
    "upstream-cert-untrusted": (
        r"re-signed as untrusted|certificate-status: untrusted",  # FortiGate ssl-anomaly log (logid 1700062302)
        r"unable to verify the first certificate",
        r"certificate signed by unknown authority",  # Go
        r"server certificate verification failed\. CAfile",  # git over GnuTLS
        r"PKIX path building failed",  # Java
        r"unable to find valid certification path to requested target",
        r"certificate chain: (?:UntrustedRoot|PartialChain)",  # .NET
        r"NET::ERR_CERT_AUTHORITY_INVALID",
        r"\bSEC_ERROR_UNKNOWN_ISSUER\b",
        r"MOZILLA_PKIX_ERROR_SELF_SIGNED_CERT",
        r"issued by an authority that is not trusted",  # SEC_E_UNTRUSTED_ROOT text
        r"issued by an untrusted certificate authority",  # Schannel 36882
        r"certificate issuer \(CA\) not known",  # squid
    ),
    "upstream-cert-name-mismatch": (
        r"Server presented an SSL certificate different from the (?:expected|configured) one",  # HAProxy
        r"no alternative certificate subject name matches target host name",  # curl
        r"IP address mismatch",  # OpenSSL 64
        r"certificate is valid for [^\s,]+(?:, [^\s,]+)*, not \S+",  # Go
        r"certificate is not valid for any names, but wanted to match",  # Go
        r"No subject alternative (?:DNS )?name matching \S+ found",  # Java
        r"SSL_ERROR_BAD_CERT_DOMAIN",
        r"upstream SSL certificate does not match",  # nginx
        r"does not contain the expected name",  # Schannel 36884
        r"validation procedure:? RemoteCertificateNameMismatch",  # .NET SslPolicyErrors
    ),
    "upstream-cert-not-server": (
        r"certificate specifies an incompatible key usage",  # Go
        r"\bCERT_E_WRONG_USAGE\b",
    ),
    "upstream-cert-revoked": (
        r"NET::ERR_CERT_REVOKED",
        r"\bSEC_ERROR_REVOKED_CERTIFICATE\b",
        r"certificate chain: Revoked",
        r"certificate received from the remote server has been revoked",  # Schannel 36883
    ),
    "upstream-cert-no-san": (
        r"relies on legacy Common Name field, use SANs instead",  # Go
        r"No subject alternative names present",  # Java
    ),
    "upstream-tls-failed": (
        r"\bSSL_ERROR_SYSCALL\b",
        r"remote host terminated the handshake",  # Java
        r"peer closed connection in SSL handshake",  # nginx
        r"error during SSL handshake with remote server",  # Apache mod_proxy AH00898
        r"\bSSL handshake failure\b",  # HAProxy
        r"\bERR_SECURE_CONNECT_FAIL\b",  # squid
        r"SSL proxy connect failed",
    ),
    "upstream-unreachable": (
        r"failed to connect to \S+ port \d+",  # curl (7)
        r"failed to make connection to backend",  # Apache AH01114
        r"no connection could be made because the target machine actively refused it",  # WSAECONNREFUSED
        r"connected party did not properly respond after a period of time",  # WSAETIMEDOUT
        r"\bERR_CONNECT_FAIL\b",  # squid
        r"Layer4 connection problem",  # HAProxy
    ),
    "upstream-dns-failed": (
        r"could not resolve host",  # curl (6)
        r"lookup \S+(?: on \S+)?: no such host",  # Go
        r"no such host is known",  # WSAHOST_NOT_FOUND
        r"\bERR_DNS_FAIL\b",  # squid
        r"unable to determine IP address from host name",
        r"\bERR_NAME_NOT_RESOLVED\b",  # Chromium
    ),
    "upstream-timeout": (
        r"operation timed out after \d+ milliseconds",  # curl (28)
        r"upstream timed out",  # nginx
        r"\bERR_TIMED_OUT\b",
    ),
    "client-cert-requested-after-request": (
        r"re-?negotiation handshake failed",  # Apache AH02261 (AH02262/AH02263 name the reason)
        r"cannot perform post-handshake authentication",  # Apache AH10158
    ),
    "tls-cert-validation-failed": (),
    "tls-secure-channel-failed": (
        r"remote party has closed the transport stream",  # .NET
        r"fatal error occurred while creating an? (?:TLS|SSL) client credential",  # Schannel 36871
    ),
    "tls-alert-40": (
        r"none of the cipher suites supported by the client application are supported by the server",  # 36874
        r"\bERR_SSL_VERSION_OR_CIPHER_MISMATCH\b",
        r"\bno shared cipher\b",
    ),
    "tls-alert-42": (r"\bERR_BAD_SSL_CLIENT_AUTH_CERT\b",),
    "tls-alert-70": (
        r"\bSEC_E_UNSUPPORTED_FUNCTION\b",  # Schannel's status for alert 70
        r"the function requested is not supported",  # its winerror.h text (A call to SSPI failed, ...)
    ),
    "tls-alert-71": (
        r"\bSEC_E_ALGORITHM_MISMATCH\b",  # Schannel's status for alert 71
        r"cannot communicate, because they do not possess a common algorithm",  # its winerror.h text
    ),
    "tls-alert-48": (r"client (?:does|may) not trust the proxy's certificate",),  # mitmproxy
    "edge-client-cert-missing": (
        r"no required SSL certificate was sent",  # nginx
        r"\bERR_SSL_CLIENT_AUTH_CERT_NEEDED\b",  # Chromium
        r"requires your browser to have a Secure Sockets Layer \(SSL\) client certificate",  # IIS 403.7
        r"requested (?:TLS|SSL) client authentication, but no suitable client certificate could be found",  # 36875
    ),
    "edge-client-cert-not-acceptable": (
        r"\bmapper denied access\b",  # IIS 403.12
    ),
    "tls-wrong-version-number": (
        r"eventsubtype=\"?unexpected-protocol",  # FortiGate ssl-negotiation log: no TLS on a port inspected as TLS
    ),
    "client-cert-under-inspection": (
        r"does not support the decryption of mutually authenticated TLS",  # Zscaler ZIA
        r"bypass TLS sessions using Client Certificate Authentication",  # Zscaler ZIA
    ),
    "edge-client-cert-untrusted": (
        r"400 Bad Request\W+The SSL certificate error",  # nginx
        r"client certificate is either not trusted or is invalid",  # IIS 403.16
        r"SSL client certificate not trusted",  # HAProxy CO_ER_SSL_CRT_FAIL
        r"SSL client CA chain cannot be verified",  # HAProxy CO_ER_SSL_CA_FAIL
    ),
    "tmg-12202": (
        r"received http code 403 from proxy after connect",  # curl
        r"\bERR_ACCESS_DENIED\b",  # squid
        r"access control configuration prevents your request",
    ),
    "tmg-12209": (
        r"\bERR_CACHE_ACCESS_DENIED\b",  # squid
        r"until you have authenticated yourself",
        r"failed with status code '407'",  # .NET HttpClient proxy tunnel
        r"unable to tunnel through proxy[\s\S]{0,80}407",  # Java
    ),
    "krb-principal-unknown": (r"KRB_?ERR_S_PRINCIPAL_UNKNOWN\b", r"failure code:?\s+0x7\b"),
    "krb-client-unknown": (
        r"KRB_?ERR_C_PRINCIPAL_UNKNOWN\b",
        r"client '[^']+' not found in kerberos database",  # MIT kinit
        r"failure code:?\s+0x6\b",
    ),
    "krb-badoption": (r"failure code:?\s+0xD\b",),
    "krb-clock-skew": (r"failure code:?\s+0x25\b",),
    "krb-preauth-failed": (
        r"(?:kinit|krb5_get_init_creds)\W{1,3}password incorrect",  # Heimdal's KDC_ERR_PREAUTH_FAILED text
        r"failure code:?\s+0x18\b",  # event 4771
    ),
    "hybrid-oauth-not-configured": (
        r"\bHCW8064\b",  # HCW: "... not able to perform the OAuth portion of your Hybrid configuration"
        r"not able to perform the OAuth portion of your Hybrid configuration",
        r"IntraOrganizationConnector[\s\S]{0,80}\bEnabled\s*:\s*False\b",
        r"configuration was last successfully loaded at 01-01-0001",  # Test-OAuthConnectivity, no hybrid app
        r"Test-OAuthConnectivity[\s\S]{0,200}service principal name \(SPN\)[\s\S]{0,80}missing",  # KB 3090197
        r"\bAADSTS500011\b",  # resource principal (the on-premises EWS URL) not found in the tenant
    ),
    "krb-wrong-keytab": (r"specified version of key is not available",),  # KRB_AP_ERR_BADKEYVER (Java)
}
