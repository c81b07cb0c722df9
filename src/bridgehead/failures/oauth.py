"""Failure entries of the oauth area: Exchange server-to-server OAuth (scenario S3, seed 003).

The ``x-ms-diagnostics`` entries carry the Exchange diagnostic number in ``numbers`` (exactly
one entry per number, so the validator can look its answer up here) and the
``error_category`` in ``category``. The Test-OAuthConnectivity entries map the rows of
the seed's table.
"""

from __future__ import annotations

from bridgehead.failures.model import Failure

_HYBRID_OAUTH = (
    "https://learn.microsoft.com/en-us/exchange/configure-oauth-authentication-between-exchange-and-exchange-online-organizations-exchange-2013-help"
)
_MAINTAIN = (
    "https://learn.microsoft.com/en-us/exchange/plan-and-deploy/integration-with-sharepoint-and-skype/maintain-oauth-certificate"
)
_MONITOR = "https://microsoft.github.io/CSS-Exchange/Admin/MonitorExchangeAuthCertificate/"
_TEST = "https://learn.microsoft.com/en-us/powershell/module/exchange/test-oauthconnectivity"
_DEEP = (
    "https://techcommunity.microsoft.com/t5/exchange-team-blog/deep-dive-how-hybrid-authentication-really-works/ba-p/606780"
)
_RFC6750 = "RFC 6750 §3.1 (Bearer error codes)"
# Public texts of x-ms-diagnostics answers (reason and error_category as Exchange / Exchange Online send them)
_FREEBUSY = "https://learn.microsoft.com/en-us/outlook/troubleshoot/calendaring/resolve-free-busy-errors"
_MIP = "https://learn.microsoft.com/en-us/information-protection/develop/quick-app-initialization-cpp"
_SFB_TENANT = (
    "Microsoft Learn troubleshooting article 'Skype for Business and Exchange integration fails if wildcards used "
    "in AcceptedDomains entries' (Test-CsExStorageConnectivity: 2000004 invalid_tenant)"
)
_QA_2000005 = "https://learn.microsoft.com/en-us/answers/questions/1381627 (Test-OAuthConnectivity: 2000005)"
_QA_2000009 = "https://learn.microsoft.com/en-us/answers/questions/1524201 (hybrid free/busy: 2000009 invalid_issuer)"
_QA_4000000 = "https://learn.microsoft.com/en-us/answers/questions/1792037 (HMA with ActiveSync: 4000000)"
_HMA = "Exchange docs 'Using hybrid Modern Authentication with Outlook for iOS and Android' (no SSL offloading)"
_HAJEK_2000008 = (
    "Jan Hajek, 'Using client_credentials with Microsoft Graph in Hybrid Exchange setup' (hajekj.net, 2019-05-13): "
    "2000008 invalid_grant for the Microsoft Graph partner application"
)
_UTR_2000020 = "https://learn.microsoft.com/en-us/entra/global-secure-access/how-to-universal-tenant-restrictions"
_RFC7519 = "RFC 7519 §4.1 (registered claims)"
_HDR = "Exchange: 401 with WWW-Authenticate: Bearer … error=\"invalid_token\" and x-ms-diagnostics"


def _diag(number: int, category: str, reason: str) -> tuple[str, ...]:
    return (f"x-ms-diagnostics: {number};reason=\"{reason}\";error_category=\"{category}\"",)


ENTRIES: tuple[Failure, ...] = (
    Failure(
        code="oauth-invalid-signature",
        area="oauth",
        title="The token's signature does not verify",
        cause="The actor token's RS256 signature does not verify with the issuer's certificate the server "
        "trusts (x5t names a certificate the server does not have, or the token was altered).",
        fix="Compare the x5t thumbprint in the actor token with the certificates of the AuthServer / "
        "partner application; re-run the Hybrid Configuration Wizard after an Auth Certificate renewal.",
        references=(_RFC6750, "RFC 7515 §5.2", _HYBRID_OAUTH, _FREEBUSY),
        exchange=_diag(2000000, "invalid_signature", "The token has an invalid signature."),
        status=401,
        signatures=(r"\b2000000;", r"error_category=\"?invalid_signature", r"invalid signature"),
        ms_diagnostics=2000000,
        category="invalid_signature",
    ),
    Failure(
        code="oauth-invalid-token",
        area="oauth",
        title="The token is malformed or incomplete",
        cause="The bearer value is not a well-formed outer token with an actor token (bad base64/JSON, "
        "missing claims such as nameid, aud or actortoken).",
        fix="Decode the token with 'bridgehead decode' and compare its claims with the expected shape; "
        "check that no proxy truncates the Authorization header.",
        references=(_RFC6750, _RFC7519, _MIP),
        exchange=_diag(2000001, "invalid_token", "The token is invalid.")
        + _diag(2000001, "invalid_token", "OAuth token submitted with the request cannot be parsed."),
        status=401,
        signatures=(r"\b2000001;", r"error_category=\"?invalid_token",
                    r"oauth token submitted with the request can ?not be parsed"),
        ms_diagnostics=2000001,
        category="invalid_token",
    ),
    Failure(
        code="oauth-token-expired",
        area="oauth",
        title="The token has expired (or is not valid yet)",
        cause="The token's exp lies in the past or its nbf in the future as seen by the server's clock: "
        "clock skew between the issuer and Exchange, or a token replayed from a cache.",
        fix="Check the server clocks (NTP, w32tm /stripchart); tokens live minutes, so a skew of a few "
        "minutes already fails.",
        references=(_RFC6750, "RFC 7519 §4.1.4 (exp), §4.1.5 (nbf)"),
        exchange=_diag(2000002, "token_expired", "The token has expired."),
        status=401,
        signatures=(r"\b2000002;", r"error_category=\"?token_expired", r"token (has )?expired"),
        ms_diagnostics=2000002,
        category="token_expired",
    ),
    Failure(
        code="oauth-audience-host-mismatch",
        area="oauth",
        title="The hostname component of the audience claim does not match the request's Host",
        cause=(
            "Exchange compares the host in the token's aud "
            "(00000002-0000-0ff1-ce00-000000000000/HOST@realm) with the Host header of the request. "
            "Expected names the Host the server received, Actual the host in the token: the caller "
            "requested a token for another name (e.g. hybrid.example instead of owa.example), a proxy "
            "rewrote Host, or SSL offloading changed https into http."
        ),
        fix=(
            "Make the caller use the name it sends (TargetUri / the OAuth endpoint configured in the "
            "organization relationship or IntraOrganizationConnector), keep Host and the https scheme "
            "intact on the reverse proxy (no offloading, no Host rewrite on /EWS, /Autodiscover), and "
            "register the name as a service principal name of 'Office 365 Exchange Online' if the partner "
            "requests tokens for it."
        ),
        references=(_RFC7519, _RFC6750, _DEEP, _TEST),
        exchange=_diag(
            2000003, "invalid_resource",
            "The hostname component of the audience claim value is invalid. Expected 'owa.example'. Actual "
            "'hybrid.example'.",
        ),
        status=401,
        signatures=(
            r"\b2000003;",
            r"hostname component of the audience claim value",
            r"expected '[^']*'\.?\s*actual '[^']*'",
            r"error_category=\"?invalid_resource",
        ),
        ms_diagnostics=2000003,
        category="invalid_resource",
    ),
    Failure(
        code="oauth-invalid-tenant",
        area="oauth",
        title="The token's tenant (realm) is not this organization's",
        cause="The realm in the token (the part after '@') is not a tenant or accepted domain the server knows: "
        "another tenant's token, or (Lync/Skype for Business to Exchange) a SIP domain that matches only a "
        "wildcard accepted domain ('*.contoso.com'), which server-to-server authentication does not accept.",
        fix="Check Get-AuthConfig Realm and the partner's tenant id; re-run the Hybrid Configuration Wizard; list "
        "every accepted domain explicitly instead of a wildcard.",
        references=(_RFC6750, _HYBRID_OAUTH, _SFB_TENANT),
        exchange=_diag(2000004, "invalid_tenant", "The tenant for tenant guid 'contoso.com' does not exist."),
        status=401,
        signatures=(r"\b2000004;", r"error_category=\"?invalid_tenant",
                    r"the tenant for tenant guid '[^']*' does not exist"),
        ms_diagnostics=2000004,
        category="invalid_tenant",
    ),
    Failure(
        code="oauth-invalid-user",
        area="oauth",
        title="The user named in the token cannot be found",
        cause="None of the user claims (nii/smtp/upn/nameid) resolves to exactly one mailbox or mail user in "
        "this organization: not synchronised or a wrong SMTP address ('does not exist'), or the UPN, SMTP or SIP "
        "address is used by two on-premises objects ('is ambiguous').",
        fix="Check that the user exists on this side (Get-Recipient with the smtp claim) and directory sync; for "
        "'is ambiguous' find the duplicate with an LDAP query on userPrincipalName/proxyAddresses and change or "
        "delete it.",
        references=(_RFC6750, _DEEP, _FREEBUSY, _QA_2000005),
        exchange=_diag(
            2000005, "invalid_user", "The user specified by the user-context in the token does not exist.")
        + _diag(2000005, "invalid_user", "The user specified by the user-context in the token is ambiguous."),
        status=401,
        signatures=(
            r"\b2000005;",
            r"error_category=\"?invalid_user",
            r"user-context in the token\s+(?:does not exist|is ambiguous)",
        ),
        ms_diagnostics=2000005,
        category="invalid_user",
    ),
    Failure(
        code="oauth-invalid-client",
        area="oauth",
        title="The calling application is not a known partner application",
        cause="The application id in the actor token's nameid (appid@realm) matches no partner application "
        "(Get-PartnerApplication) or it is disabled.",
        fix="Create or enable the partner application for that application id (Exchange Online: "
        "00000002-0000-0ff1-ce00-000000000000).",
        references=(_RFC6750, _HYBRID_OAUTH),
        exchange=_diag(2000006, "invalid_client", "The client is invalid."),
        status=401,
        signatures=(r"\b2000006;", r"error_category=\"?invalid_client"),
        ms_diagnostics=2000006,
        category="invalid_client",
    ),
    Failure(
        code="oauth-internal-error",
        area="oauth",
        title="The server failed while validating the token",
        cause="An internal error during validation, frequently a missing or unreadable Auth Certificate "
        "private key, or a directory lookup that failed.",
        fix="Check the Exchange application event log and the Auth Certificate (Get-AuthConfig, "
        "MonitorExchangeAuthCertificate.ps1); IISReset after fixing the certificate.",
        references=(_MAINTAIN, _MONITOR),
        exchange=_diag(2000007, "internal_error", "An internal error occurred."),
        status=500,
        signatures=(r"\b2000007;", r"error_category=\"?internal_error"),
        ms_diagnostics=2000007,
        category="internal_error",
    ),
    Failure(
        code="oauth-invalid-grant",
        area="oauth",
        title="The grant in the token is not acceptable",
        cause="The token does not grant what the request needs (app-only token without trustedfordelegation "
        "where user context is required, or a scope the partner application lacks).",
        fix="Check the partner application's permissions and the token's trustedfordelegation claim.",
        references=(_RFC6750, "RFC 6749 §5.2", _HAJEK_2000008),
        exchange=_diag(2000008, "invalid_grant", "The token should have valid permissions or linked account "
                       "associated with partner application '00000003-0000-0000-c000-000000000000'."),
        status=401,
        signatures=(r"\b2000008;", r"error_category=\"?invalid_grant",
                    r"should have valid permissions or linked account associated with partner application"),
        ms_diagnostics=2000008,
        category="invalid_grant",
    ),
    Failure(
        code="oauth-unknown-issuer",
        area="oauth",
        title="The issuer of the token is unknown",
        cause=(
            "The token's issuer (appid@realm, e.g. 00000001-0000-0000-c000-000000000000@<tenant> for "
            "ACS/evoSTS) is not an AuthServer or partner application this organization trusts, or its "
            "signing certificate is not the one on record: a foreign tenant calling, a missing AuthServer "
            "after a tenant change, or an Auth Certificate that was renewed on one side only. Some builds "
            "report the category as invalid_certificate."
        ),
        fix="Compare the issuer with Get-AuthServer / Get-PartnerApplication; re-run the Hybrid "
        "Configuration Wizard after changing the Auth Certificate so the cloud gets the new public key.",
        references=(_RFC6750, _HYBRID_OAUTH, _DEEP, _QA_2000009),
        exchange=_diag(2000009, "invalid_issuer", "The issuer of the token is unknown. Issuer was '…'."),
        status=401,
        signatures=(
            r"\b2000009;",
            r"the issuer of the token is unknown",
            r"error_category=\"?(invalid_issuer|invalid_certificate)",
        ),
        ms_diagnostics=2000009,
        category="invalid_issuer",
    ),
    Failure(
        code="oauth-audience-wrong-resource",
        area="oauth",
        title="The token was issued for another resource (its audience is not this Exchange)",
        cause="Exchange answers 2000003 'The audience claim value is invalid' naming the aud value itself, without "
        "a hostname component or an Expected/Actual pair: the client asked its token service for a token for "
        "another API (Microsoft Graph, the Azure AD Graph 00000002-0000-0000-c000-000000000000, a custom app) and "
        "sent it to EWS.",
        fix="Request the token for the Exchange resource (https://outlook.office365.com, or the on-premises EWS "
        "host as 00000002-0000-0ff1-ce00-000000000000/HOST@realm); decode it with 'bridgehead decode' and check aud.",
        references=(_RFC7519, _RFC6750, "RFC 7519 §4.1.3 (aud)"),
        exchange=("x-ms-diagnostics: 2000003;reason=\"The audience claim value is invalid 'aud'.\";"
                  "error_category=\"invalid_resource\"",),
        status=401,
        signatures=(r"the audience claim value is invalid '[^']*'",),
    ),
    Failure(
        code="oauth-not-available",
        area="oauth",
        title="Exchange answers that OAuth is not available for this domain or virtual directory (4000000)",
        cause="x-ms-diagnostics 4000000 with error_category oauth_not_available ('Flighting is not enabled for "
        "domain …'): the server offers Bearer but will not accept one for that domain or protocol, typically "
        "ActiveSync with Hybrid Modern Authentication not (fully) enabled on the server that answered, so "
        "Outlook mobile and the Remote Connectivity Analyzer's HMA test fail while Test-OAuthConnectivity for "
        "EWS passes.",
        fix="Enable Hybrid Modern Authentication for the protocol on every Exchange server behind the name "
        "(Set-OrganizationConfig -OAuth2ClientProfileEnabled $true, the virtual directory's OAuthAuthentication, "
        "the EvoSTS AuthServer as default), re-run the Hybrid Configuration Wizard, and check that a load balancer "
        "does not send the test to a server without it.",
        references=(_QA_4000000, _HMA, _HYBRID_OAUTH),
        exchange=("x-ms-diagnostics: 4000000;reason=\"Flighting is not enabled for domain 'mail.contoso.com'.\";"
                  "error_category=\"oauth_not_available\"",),
        status=401,
        signatures=(r"\b4000000;", r"error_category=\"?oauth_not_available",
                    r"flighting is not enabled for domain"),
        ms_diagnostics=4000000,
        category="oauth_not_available",
    ),
    Failure(
        code="oauth-tenant-restriction-claims",
        area="oauth",
        title="Tenant restrictions v2 refused the token: it lacks the claims the policy header requires (2000020)",
        cause="A tenant-restrictions proxy or the Global Secure Access client adds sec-Restrict-Tenant-Access-Policy "
        "to the request; the token has no xms_trpid claim for that policy, so Microsoft 365 answers 2000020 "
        "'insufficiant_claims' (sic) and Restrict-Access-Confirm: 1 — the access is blocked by policy, not by "
        "broken OAuth.",
        fix="If the block is intended, nothing; otherwise allow the tenant in the tenant restrictions v2 policy of "
        "the home tenant, or exempt the traffic from the proxy that inserts the policy header.",
        references=(_UTR_2000020,),
        exchange=("x-ms-diagnostics: 2000020;reason=\"xms_trpid claim was not present but "
                  "sec-tenant-restriction-access-policy header was in requres\";"
                  "error_category=\"insufficiant_claims\"",),
        status=401,
        signatures=(r"\b2000020;", r"error_category=\"?insuff?ic(?:i)?ant_claims",
                    r"xms_trpid claim was not present"),
        ms_diagnostics=2000020,
        category="insufficiant_claims",
    ),
    Failure(
        code="oauth-name-not-resolved",
        area="oauth",
        title="The OAuth target's host name does not resolve",
        cause="Test-OAuthConnectivity (or the calling Exchange) could not resolve the TargetUri's host in "
        "public DNS; the call never reached your network.",
        fix="Use the published external name (the EWS external URL host) and check its public DNS record.",
        references=(_TEST,),
        windows=("System.Net.WebException NameResolutionFailure", "WSAHOST_NOT_FOUND 11001"),
        exchange=("Test-OAuthConnectivity: The remote name could not be resolved",),
        status=502,
        signatures=(r"the remote name could not be resolved",),
    ),
    Failure(
        code="oauth-endpoint-not-ews",
        area="oauth",
        title="The OAuth target answered 404: not an Exchange EWS endpoint",
        cause="The name resolves and TLS works, but /EWS/Exchange.asmx does not exist there: the name "
        "points to another web server or a reverse proxy without a rule for /EWS.",
        fix="Point the TargetUri / OAuth endpoint at the Exchange front end and publish /EWS on the reverse "
        "proxy.",
        references=(_TEST,),
        exchange=("Test-OAuthConnectivity: The remote server returned an error: (404) Not Found.",),
        status=404,
        signatures=(r"\(404\) not found", r"test-oauthconnectivity[\s\S]{0,400}\b404\b"),
    ),
    Failure(
        code="oauth-connection-reset",
        area="oauth",
        title="The connection was reset during TLS (protocol or cipher mismatch)",
        cause="The server (or a firewall) closed the connection in the TLS handshake: typically no common "
        "TLS version or cipher (TLS 1.2 disabled, only legacy ciphers), or an IPS dropping the session.",
        fix="Enable TLS 1.2 with modern cipher suites on the published endpoint (IIS Crypto / SChannel "
        "registry, .NET SchUseStrongCrypto) and check firewalls in between; 'bridgehead probe' shows the "
        "handshake.",
        references=(_TEST, "RFC 8446 §6.2", "RFC 5246 §7.2"),
        windows=("WSAECONNRESET 10054", "System.IO.IOException"),
        exchange=("The underlying connection was closed: An unexpected error occurred on a receive.",),
        status=502,
        signatures=(
            r"the underlying connection was closed: an unexpected error occurred on a (receive|send)",
            r"an existing connection was forcibly closed by the remote host",
            r"unable to read data from the transport connection",
        ),
        numbers=(10054,),
    ),
    Failure(
        code="oauth-mailbox-not-found",
        area="oauth",
        title="The mailbox given to Test-OAuthConnectivity does not exist in this organization",
        cause="ManagementObjectNotFoundException: the -Mailbox value is not a recipient where the command "
        "runs (Exchange Online), so no request was sent at all.",
        fix="Use a mailbox that exists in the organization running the test (for a cloud-to-premises test: "
        "an Exchange Online mailbox).",
        references=(_TEST,),
        exchange=("Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",),
        status=404,
        signatures=(r"ManagementObjectNotFoundException", r"couldn't be found on '[^']*'"),
    ),
    Failure(
        code="oauth-auth-cert-missing",
        area="oauth",
        title="The Auth Certificate is missing (Federation or Auth certificate not found)",
        cause="Get-AuthConfig names a CurrentCertificateThumbprint that is not in the local machine store "
        "of this server (deleted, never replicated, or the AuthConfig points at a removed certificate).",
        fix="Create a new Auth Certificate (New-ExchangeCertificate -SubjectName 'cn=Microsoft Exchange "
        "Server Auth Certificate' -Services SMTP), Set-AuthConfig -NewCertificateThumbprint … "
        "-NewCertificateEffectiveDate (Get-Date), -PublishCertificate, -ClearPreviousCertificate, IISReset, "
        "then re-run the Hybrid Configuration Wizard; or use MonitorExchangeAuthCertificate.ps1.",
        references=(_MAINTAIN, _MONITOR, "https://support.microsoft.com/help/3089171"),
        exchange=(
            "Federation or Auth certificate not found",
            "Exchange OAuth authentication couldn't find the authorization certificate with thumbprint",
        ),
        status=500,
        signatures=(
            r"federation or auth certificate not found",
            r"couldn'?t find the authorization certificate",
            r"auth(orization)? certificate[\s\S]{0,60}(not found|missing|cannot be found)",
        ),
    ),
    Failure(
        code="oauth-auth-cert-expired",
        area="oauth",
        title="The Exchange Server Auth Certificate has expired",
        cause="The self-signed 'Microsoft Exchange Server Auth Certificate' is valid 5 years and never "
        "renewed automatically; once expired, OAuth (hybrid free/busy, eDiscovery) and PowerShell "
        "serialization fail.",
        fix="Renew it (MonitorExchangeAuthCertificate.ps1 -ValidateAndRenewAuthCertificate $true, or the "
        "New-ExchangeCertificate / Set-AuthConfig steps), IISReset, and re-run the Hybrid Configuration "
        "Wizard so Exchange Online gets the new key.",
        references=(_MAINTAIN, _MONITOR),
        exchange=("Microsoft Exchange Server Auth Certificate expired",),
        status=500,
        signatures=(r"auth certificate[\s\S]{0,80}expired", r"expired[\s\S]{0,40}auth certificate"),
    ),
    Failure(
        code="oauth-host-header-missing",
        area="oauth",
        title="No Host header (or https turned into http) breaks the audience check",
        cause=(
            "Exchange compares the token's audience with the request's Host and scheme. A request without "
            "Host, or one that a proxy forwarded as plain HTTP (SSL offloading) or with another Host, fails "
            "with 2000003 'The hostname component of the audience claim value … is invalid' without an "
            "Expected/Actual pair."
        ),
        fix="Send Host (every HTTP/1.1 request must); on the reverse proxy keep Host and re-encrypt instead "
        "of offloading for /EWS and /Autodiscover.",
        references=("RFC 9112 §3.2 (Host)", _RFC7519, _DEEP),
        exchange=("x-ms-diagnostics: 2000003 … error_category=\"invalid_resource\" (no Expected/Actual)",),
        status=401,
        signatures=(
            r"audience claim value '[^']*' is invalid",
            r"(no|missing|without( a)?) host[- ]?header",
        ),
    ),
    Failure(
        code="oauth-probe",
        area="oauth",
        title="Exchange OAuth test probe requests (AMProbe/OAUTH/Exchange, Test-OAuthConnectivity)",
        cause="Requests with User-Agent AMProbe/OAUTH/Exchange come from Test-OAuthConnectivity or Exchange "
        "Online's monitoring: an authenticated EWS call with a probe token. Their status shows whether "
        "OAuth from the cloud works (200) or fails (401 with x-ms-diagnostics).",
        fix="Nothing if they answer 200. For 401, log the response's x-ms-diagnostics (or run "
        "Test-OAuthConnectivity -Verbose) and 'bridgehead explain' it; the decoded Bearer summary shows "
        "issuer and audience.",
        references=(_TEST, _DEEP),
        exchange=("User-Agent: AMProbe/OAUTH/Exchange",),
        status=200,
        signatures=(r"AMProbe/OAUTH",),
    ),
)
