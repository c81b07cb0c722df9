"""Failure families met in other software's wording that the area modules did not cover.

TLS spoken to a plain-HTTP port (and the reverse), a client certificate or key that
cannot be loaded, a server that offers only Basic, Kerberos encryption types, Entra
Application Proxy connector delegation, MRSProxy disabled, hybrid OAuth not configured
or its certificate not uploaded to Entra, and a proxy that needs credentials a service
cannot give (Azure AD Connect, machine.config). Each entry names the cause and fix; the
signatures are the texts curl, OpenSSL, Python, Go, Java, .NET, browsers, nginx, Apache,
Windows and Exchange print for it (tests/core/test_explain_corpus.py cites where each
came from).
"""

from __future__ import annotations

from bridgehead.failures.model import Failure

_APPPROXY_KCD = (
    "https://learn.microsoft.com/en-us/entra/identity/app-proxy/application-proxy-back-end-kerberos-constrained-delegation-how-to"
)
_APPPROXY_ERR = "https://learn.microsoft.com/en-us/entra/identity/app-proxy/application-proxy-troubleshoot"
_MRSPROXY = "https://learn.microsoft.com/en-us/exchange/architecture/mailbox-servers/mrs-proxy-endpoint"
_HYBRID_OAUTH = (
    "https://learn.microsoft.com/en-us/exchange/configure-oauth-authentication-between-exchange-and-exchange-online-organizations-exchange-2013-help"
)
_AADSTS = "https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes"
_KRB_ETYPE = (
    "https://learn.microsoft.com/en-us/windows-server/security/kerberos/detect-remediate-rc4-kerberos"
)
_RFC4120_ERR = "RFC 4120 §7.5.9 (error codes)"

ENTRIES: tuple[Failure, ...] = (
    Failure(
        code="tls-wrong-version-number",
        area="general",
        title="TLS and plain HTTP mixed on one port (TLS sent to a plain-HTTP port, or HTTP to a TLS port)",
        cause=(
            "One side spoke TLS and the other plain HTTP. Most often the proxy is configured as "
            "https://proxy:8080 (HTTPS_PROXY with an https scheme, a PAC file or WinHTTP setting) while the "
            "proxy port speaks plain HTTP: the client's ClientHello reaches an HTTP parser, whose '400 Bad "
            "Request' or HTML reply is read as a TLS record with a nonsense version. The reverse (plain HTTP "
            "to a TLS port) gets nginx's 'The plain HTTP request was sent to HTTPS port'."
        ),
        fix=(
            "Use http://proxy:port for an HTTP proxy (the CONNECT tunnel is still end-to-end TLS), or point "
            "the client at the TLS port; check HTTPS_PROXY/https_proxy, git's http.proxy and WinHTTP/PAC "
            "settings."
        ),
        references=("RFC 9110 §9.3.6 (CONNECT)", "RFC 8446 §5.1 (record layer)"),
        status=400,
        signatures=(
            r"wrong[_ ]version[_ ]number",
            r"first record does not look like a tls handshake",
            r"server gave HTTP response to HTTPS client",
            r"unsupported or unrecognized SSL message",
            r"SSL_ERROR_RX_RECORD_TOO_LONG",
            r"plain HTTP request was sent to HTTPS port",
            r"speaking plain HTTP to an SSL-enabled server port",
            r"handshake failed due to an unexpected packet format",
            r"cannot determine the frame size or a corrupted frame was received",  # .NET SslStream
            r"\bpacket length too long\b",
            r"\brecord layer failure\b",
            r"http request\W+(?:\(_ssl\.c|ssl routines)",
        ),
    ),
    Failure(
        code="client-cert-load-failed",
        area="general",
        title="The client certificate or its private key cannot be loaded",
        cause=(
            "The client was told to present a certificate but could not use it: the file is not PEM/PFX, the "
            "key does not belong to the certificate, the pass phrase is wrong, or (Windows) the certificate "
            "in the store has no private key or the process may not read it. No certificate is sent, so the "
            "server then refuses the handshake as if none was configured."
        ),
        fix=(
            "Check the pair with 'openssl x509 -noout -pubkey -in cert.pem' and 'openssl pkey -pubout -in "
            "key.pem' (same key); give curl --cert and --key (and --pass), Python load_cert_chain(cert, "
            "key); on Windows import the PFX with its key into the account's store and grant the service "
            "account read access to the key."
        ),
        references=("RFC 8446 §4.4.2 (Certificate)", "https://curl.se/libcurl/c/libcurl-errors.html"),
        windows=("SEC_E_UNKNOWN_CREDENTIALS 0x8009030D", "SEC_E_NO_CREDENTIALS 0x8009030E",
                 "Schannel event 36869 / 36870"),
        status=502,
        signatures=(
            r"unable to set private key file",
            r"could not load PEM client certificate",
            r"unable to use client certificate",
            r"could not load (?:the )?client (?:certificate|key)",
            r"key values mismatch",
            r"private key does not match public key",
            r"failed to find any PEM data in (?:certificate|key) input",
            r"\[SSL\] PEM lib",
            r"credential'?s certificate does not have a private key information property",
            r"fatal error occurred when attempting to access the (?:TLS|SSL) (?:client|server) credential private key",
            r"the credentials supplied to the package were not recognized",
            r"no credentials are available in the security package",
            r"\bSEC_E_UNKNOWN_CREDENTIALS\b",
            r"keystore password was incorrect",
            r"could not read (?:the )?(?:certificate|private key)",
        ),
        # not SEC_E_NO_CREDENTIALS 0x8009030E: IIS logs it for every NTLM challenge step (401 1 2148074254)
        hresult=(0x8009030D,),
    ),
    Failure(
        code="auth-basic-only",
        area="ntlm",
        title="The server (or a proxy in front of it) offered only Basic authentication",
        cause=(
            "The 401 carried only 'WWW-Authenticate: Basic'. A client that logs on with Negotiate/NTLM (MRS, "
            "WCF, PowerShell remoting) has no scheme to use and fails before any channel binding is "
            "compared: this is not an Extended Protection failure. Usually Windows authentication is off on "
            "the virtual directory, or a reverse proxy pre-authenticates with Basic and answers itself."
        ),
        fix=(
            "Enable Windows authentication (Negotiate, NTLM) on the virtual directory (e.g. "
            "Set-WebServicesVirtualDirectory -WindowsAuthentication $true), or publish the path through the "
            "proxy without pre-authentication (passthrough)."
        ),
        references=("RFC 9110 §11.6.1 (WWW-Authenticate)", "RFC 7617 (Basic)", "RFC 4559 (Negotiate)"),
        status=401,
        signatures=(
            r"authentication header received from the server was 'basic[^']*'",
        ),
    ),
    Failure(
        code="krb-etype-unsupported",
        area="kerberos",
        title="Kerberos encryption type not supported (KDC_ERR_ETYPE_NOSUPP)",
        cause=(
            "Client, KDC and service account share no encryption type: the account has no AES keys (password "
            "not reset since AES was enabled, msDS-SupportedEncryptionTypes unset), RC4 was disabled on one "
            "side, or a keytab holds only keys of a type the KDC no longer issues."
        ),
        fix=(
            "Set msDS-SupportedEncryptionTypes on the service account to AES (0x18), reset its password so AES "
            "keys exist, regenerate the keytab (ktpass /crypto AES256-SHA1 or ktutil), and allow the same "
            "types in krb5.conf (permitted_enctypes) / Java (allowed_enctypes)."
        ),
        references=(_RFC4120_ERR, "RFC 3961", _KRB_ETYPE),
        windows=("KDC_ERR_ETYPE_NOSUPP (14, 0xE)", "SEC_E_ETYPE_NOT_SUPP 0x80090341",
                 "Kerberos-Key-Distribution-Center event 14 / 16 / 27", "event 4769 failure code 0xE"),
        status=401,
        signatures=(
            r"KDC_ERR_ETYPE_NO?SUPP\b",
            r"KDC has no support for encryption type",
            r"encryption type [\w -]{1,60} is not supported(?:/enabled)?",
            r"(?:requested|specified) encryption type (?:is )?not supported",
            r"did not have a suitable key for generating a Kerberos ticket",
            r"no supported encryption types? (?:in|for)",
            r"\bSEC_E_ETYPE_NOT_SUPP\b",
            r"\bKrbException\b[^\n]{0,80}\(14\)",
            r"failure code:?\s+0xE\b",
        ),
        hresult=(0x80090341,),
    ),
    Failure(
        code="appproxy-kcd-failed",
        area="kerberos",
        title="Entra Application Proxy connector could not get a Kerberos ticket for the user (KCD)",
        cause=(
            "The connector authenticated the user in Entra ID but its computer account could not obtain a "
            "ticket to the internal application's SPN on the user's behalf: the connector is not trusted "
            "for delegation to that SPN ('Use any authentication protocol'), the SPN in the app's settings "
            "does not exist or is registered twice, or the user cannot be mapped to an on-premises account."
        ),
        fix=(
            "On the connector's computer account: Delegation > Trust this computer for delegation to specified "
            "services only > Use any authentication protocol, and add the application's SPN (setspn -Q to "
            "check it exists once). Check the Internal Application SPN and the Delegated Login Identity in "
            "the app's single sign-on settings."
        ),
        references=(_APPPROXY_KCD, _APPPROXY_ERR, "MS-SFU §3.2.5.2 (S4U2proxy)"),
        windows=("Microsoft-AadApplicationProxy-Connector/Admin event 13019 / 13022",),
        status=502,
        signatures=(
            r"incorrect kerberos constrained delegation configuration",
            r"connector (?:failed to|could not) (?:retrieve|obtain|get) (?:a )?kerberos ticket",
            r"kerberos constrained delegation (?:failed|error)",
            r"\bevent(?: id)?:?\s*1301[39]\b",
            r"this corporate app can't be accessed[\s\S]{0,200}kerberos",
        ),
    ),
    Failure(
        code="appproxy-connector-unauthorized",
        area="reverse",
        title="Entra Application Proxy: the user or connector is not authorised for the application",
        cause=(
            "Entra ID refused the request before it reached the connector (the user is not assigned to the "
            "enterprise application, Conditional Access blocked it), or the connector's own authentication to "
            "the service failed (connector not registered, its certificate expired, outbound traffic to "
            "*.msappproxy.net inspected or blocked by a proxy)."
        ),
        fix=(
            "Assign the user or group to the enterprise application; on the connector host check the "
            "connector's event log, its certificate, and that HTTPS to *.msappproxy.net and "
            "*.servicebus.windows.net is not TLS-inspected (exception for those destinations)."
        ),
        references=(_APPPROXY_ERR,),
        status=403,
        signatures=(
            r"you are not authorized to access this application",
            r"this corporate app can't be accessed",
            r"connector (?:is not|isn't) authorized",
            r"the connector (?:was unable|failed) to (?:connect|authenticate) to the service",
            r"msappproxy\.net[\s\S]{0,200}(?:ssl|tls|certificate|407|proxy)",
        ),
    ),
    Failure(
        code="mrsproxy-disabled",
        area="ntlm",
        title="The MRS Proxy endpoint is disabled or unreachable (mrsproxy.svc)",
        cause=(
            "Hybrid mailbox moves connect to https://HOST/EWS/mrsproxy.svc. With MRSProxyEnabled $false on the "
            "EWS virtual directory (the default) the endpoint does not answer, so Test-MigrationServerAvailability "
            "and the migration endpoint fail before any authentication is tried."
        ),
        fix=(
            "Set-WebServicesVirtualDirectory -Identity 'SERVER\\EWS (Default Web Site)' -MRSProxyEnabled $true on "
            "every server behind the published name, and publish /EWS/mrsproxy.svc through the proxy."
        ),
        references=(_MRSPROXY,),
        exchange=("MRSProxyEnabled : False",),
        status=404,
        signatures=(
            r"mrs ?proxy (?:service )?(?:is not|isn't) enabled",
            r"MRSProxyEnabled\W{1,5}\$?false",
            r"mrsproxy\.svc[\s\S]{0,300}(?:is unavailable|no endpoint (?:was found )?listening)",
            r"mrsproxy\.svc[\s\S]{0,200}\(404\) not found",
        ),
    ),
    Failure(
        code="hybrid-oauth-not-configured",
        area="oauth",
        title="Hybrid OAuth is not configured, or the Exchange Auth certificate is not uploaded to Entra ID",
        cause=(
            "Exchange Online and Exchange Server trust each other's tokens only when the on-premises Auth "
            "certificate is a key credential of the Exchange Online service principal "
            "(00000002-0000-0ff1-ce00-000000000000) and the IntraOrganizationConnector / AuthServer exist. "
            "After an Auth certificate renewal without re-running the Hybrid Configuration Wizard, or "
            "without uploading the new certificate, Entra refuses the client assertion."
        ),
        fix=(
            "Re-run the Hybrid Configuration Wizard (it uploads the current Auth certificate), or upload it "
            "with New-MgServicePrincipalKeyCredential / the documented script; check Get-AuthServer "
            "(EvoSts), Get-IntraOrganizationConnector and Test-OAuthConnectivity again."
        ),
        references=(_HYBRID_OAUTH, _AADSTS),
        exchange=("AADSTS700027", "AADSTS700016"),
        status=401,
        signatures=(
            r"AADSTS700027\b",
            r"AADSTS700016\b",
            r"AADSTS50012\b",
            r"client assertion contains an invalid signature",
            r"certificate with identifier used to sign the client assertion is not registered",
            r"application with identifier '00000002-0000-0ff1-ce00-000000000000' was not found",
            r"IntraOrganizationConnector[\s\S]{0,120}(?:not found|doesn't exist|couldn't be found)",
            r"(?:EvoSts|AuthServer)[\s\S]{0,120}(?:not found|couldn't be found)",
        ),
    ),
)
