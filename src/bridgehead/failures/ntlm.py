"""Failure entries of the ntlm area: NTLM/Negotiate and Extended Protection (scenario S2, seed 002).

Numbers are unsigned 32-bit (``0x80090346`` = 2148074310 = signed -2146892986); ``explain``
recognises all three spellings. IIS logs the failing step of a logon as ``401 1 <win32>``
with the SSPI/NTSTATUS value in decimal.
"""

from __future__ import annotations

from bridgehead.failures.model import Failure

_EP_EXCHANGE = (
    "https://learn.microsoft.com/en-us/exchange/plan-and-deploy/post-installation-tasks/security-best-practices/exchange-extended-protection"
)
_EP_IIS = (
    "https://learn.microsoft.com/en-us/iis/configuration/system.webserver/security/authentication/windowsauthentication/extendedprotection/"
)
_EP_SCRIPT = "https://microsoft.github.io/CSS-Exchange/Security/ExchangeExtendedProtectionManagement/"
_RFC5929 = "RFC 5929 §4 (tls-server-end-point)"
_NLMP_CBT = "MS-NLMP §3.1.5.1.2 (client adds MsvAvChannelBindings)"
_NLMP_AV = (
    "MS-NLMP §2.2.2.1 (AV_PAIR: MsvAvFlags 0x0006, MsvAvTargetName 0x0009, MsvAvChannelBindings 0x000A)"
)
_NLMP_SRV = "MS-NLMP §3.2.5.1.2 (server receives AUTHENTICATE_MESSAGE)"
_ERREF_HR = "MS-ERREF §2.1 (HRESULT values)"
_ERREF_NT = "MS-ERREF §2.3 (NTSTATUS values)"
_IIS_STATUS = (
    "https://learn.microsoft.com/en-us/troubleshoot/developer/webapps/iis/www-administration-management/http-status-code"
)

ENTRIES: tuple[Failure, ...] = (
    Failure(
        code="ntlm-bad-bindings",
        hresult=(0x80090346,),
        ntstatus=(0xC000035B,),
        iis_win32=0xC000035B,
        freb_error=(0x80090346, "Client's supplied SSPI channel bindings were incorrect."),
        area="ntlm",
        title="Client's supplied SSPI channel bindings were incorrect (Extended Protection)",
        cause=(
            "The NTLMv2 response carried MsvAvChannelBindings, the MD5 of gss_channel_bindings_struct with "
            "'tls-server-end-point:' + hash of the certificate the CLIENT saw. The server compared it with "
            "the hash of its OWN certificate and they differ: something between them (a reverse proxy, "
            "layer-7 load balancer or inspecting proxy) terminated TLS with a different certificate. "
            "Windows fails the logon with SEC_E_BAD_BINDINGS; IIS logs 401 1 3221226331; the client sees a "
            "third 401."
        ),
        fix=(
            "Make both TLS sessions use the same certificate: publish by SNI passthrough (layer 4), or "
            "terminate and re-encrypt with the backend's own certificate and key. Otherwise set Extended "
            "Protection to None on that virtual directory (ExchangeExtendedProtectionManagement.ps1 "
            "-DisableExtendedProtection or an exclusion for the vdir). 'bridgehead decode' on the "
            "Authorization header shows the binding."
        ),
        references=(_RFC5929, _NLMP_CBT, _NLMP_AV, _ERREF_HR, _EP_IIS, _EP_EXCHANGE),
        windows=(
            "SEC_E_BAD_BINDINGS 0x80090346",
            "STATUS_BAD_BINDINGS 0xC000035B",
            "IIS 401 1 3221226331",
            "SQL Server: SSPI handshake failed with error code 0x80090346",
        ),
        exchange=("MRS: The HTTP request is unauthorized with client authentication scheme 'Negotiate'",),
        status=401,
        signatures=(
            r"client'?s supplied sspi channel bindings were incorrect",
            r"channel bindings? (were|was|are|is) (incorrect|invalid|wrong)",
            r"\bSEC_E_BAD_BINDINGS\b",
            r"\bSTATUS_BAD_BINDINGS\b",
            r"\b401\s+1\s+3221226331\b",
        ),
    ),
    Failure(
        code="ntlm-ep-terminating-proxy",
        area="ntlm",
        title="A TLS-terminating proxy with another certificate sits in front of a server with Extended "
        "Protection (Allow/Require)",
        cause=(
            "The client (Exchange Online's Mailbox Replication Service, PowerShell, .NET) uses channel "
            "binding whenever the server offers Extended Protection. Through a reverse proxy or layer-7 "
            "load balancer that presents a different certificate, the binding the client computes never "
            "matches the server's: every NTLM/Negotiate logon ends in 401 although the credentials are "
            "right. The seed's table: EP Off -> 400 (logon worked, no MRS payload), Accept -> 401, Require "
            "-> 401."
        ),
        fix=(
            "Publish the endpoint (e.g. /EWS/mrsproxy.svc) by TLS passthrough, or re-encrypt with the same "
            "certificate and key as the Exchange server, or set Extended Protection to None for that "
            "virtual directory. Confirm with the IIS log (401 1 3221226331) or a FREB trace of the third "
            "401 ('Client's supplied SSPI channel bindings were incorrect. (0x80090346)'); 'bridgehead logs "
            "freb DIR --url */EWS/mrsproxy.svc --status 401' finds it."
        ),
        references=(_EP_EXCHANGE, _EP_IIS, _EP_SCRIPT, _RFC5929, _NLMP_CBT),
        windows=("SEC_E_BAD_BINDINGS 0x80090346 on the server", "IIS 401 1 3221226331"),
        exchange=(
            "CommunicationErrorTransientException",
            "The Mailbox Replication Service was unable to connect to the remote server using the "
            "credentials provided",
        ),
        status=401,
        signatures=(
            r"unauthorized with client authentication scheme '(negotiate|ntlm)'",
            r"authentication header received from the server was '[^']*(negotiate|ntlm)[^']*'",
            r"mailbox replication service was unable to connect to the remote server",
            r"CommunicationErrorTransientException",
            r"mrsproxy\.svc[\s\S]{0,400}\(401\) unauthorized",
        ),
    ),
    Failure(
        code="ntlm-logon-failure",
        ntstatus=(0xC000006D,),
        hresult=(0x8009030C,),
        iis_win32=0x8009030C,
        freb_error=(0x8009030C, "The logon attempt failed"),
        area="ntlm",
        title="The user name or password is incorrect",
        cause=(
            "The NTLM AUTHENTICATE message was well formed and its channel binding (if any) passed, but the "
            "NTProofStr did not verify: wrong password, wrong user or domain, a locked or expired account, "
            "or logon hours/workstation restrictions."
        ),
        fix=(
            "Check the account (domain\\user or UPN), its password and lockout state; the domain "
            "controller's Security log shows event 4625 with the sub-status. If the same credentials work "
            "without a proxy, look at ntlm-bad-bindings instead."
        ),
        references=(_ERREF_NT, _ERREF_HR, _NLMP_SRV, _IIS_STATUS),
        windows=(
            "STATUS_LOGON_FAILURE 0xC000006D",
            "SEC_E_LOGON_DENIED 0x8009030C",
            "ERROR_LOGON_FAILURE 1326",
            "IIS 401 1 1326",
            "Security event 4625",
        ),
        exchange=("Please check the credentials and try again",),
        status=401,
        signatures=(
            r"the user name or password is incorrect",
            r"unknown user name or bad password",
            r"the logon attempt failed",
            r"\bSTATUS_LOGON_FAILURE\b",
            r"\bSEC_E_LOGON_DENIED\b",
            r"\b401\s+1\s+1326\b",
            r"access is denied due to invalid credentials",
        ),
    ),
    Failure(
        code="ntlm-invalid-token",
        hresult=(0x80090308,),
        iis_win32=0x80090308,
        freb_error=(0x80090308, "The token supplied to the function is invalid"),
        area="ntlm",
        title="The token supplied to the function is invalid",
        cause=(
            "The server could not parse the NTLM/SPNEGO token: it was truncated or altered on the way (a "
            "proxy that rewrites or drops headers), came on a different TCP connection than the challenge "
            "(NTLM is connection-oriented: a load balancer without affinity or a proxy without connection "
            "pinning breaks it), or mixed Kerberos and NTLM messages. IIS logs 401 1 2148074248."
        ),
        fix=(
            "Keep the whole handshake on one client and one backend connection (connection pinning / "
            "'persistent connections' on the proxy, affinity on the load balancer); do not rewrite "
            "Authorization headers. 'bridgehead decode' shows whether the token is intact."
        ),
        references=(_ERREF_HR, "MS-NLMP §3.1.1 (connection-oriented mode)", _IIS_STATUS),
        windows=("SEC_E_INVALID_TOKEN 0x80090308", "IIS 401 1 2148074248"),
        status=401,
        signatures=(
            r"the token supplied to the function is invalid",
            r"\bSEC_E_INVALID_TOKEN\b",
            r"\b401\s+1\s+2148074248\b",
        ),
    ),
    Failure(
        code="ntlm-wrong-principal",
        hresult=(0x80090322,),
        area="ntlm",
        title="The target principal name is incorrect",
        cause=(
            "The service principal name the client asked for (HTTP/host, taken from the URL) does not "
            "belong to the account that decrypts the ticket, or the NTLM MsvAvTargetName did not pass the "
            "server's service name check: the client used a name (a proxy's, a load balancer's, a CNAME) "
            "the server does not know as its own."
        ),
        fix=(
            "Register the SPN on the account that runs the service (setspn -S HTTP/name account), or add "
            "the name to the server's accepted SPN list (IIS extendedProtection <spn>), or connect by a "
            "name the server owns."
        ),
        references=(_ERREF_HR, "MS-KILE §3.3.5", _NLMP_AV, _EP_IIS),
        windows=("SEC_E_WRONG_PRINCIPAL 0x80090322",),
        status=401,
        signatures=(r"the target principal name is incorrect", r"\bSEC_E_WRONG_PRINCIPAL\b"),
    ),
    Failure(
        code="ntlm-ntlmv1-refused",
        iis_win32=0xC000035B,
        freb_error=(0x80090346, "Client's supplied SSPI channel bindings were incorrect."),
        area="ntlm",
        title="NTLMv1 cannot pass Extended Protection 'Require'",
        cause=(
            "NTLMv1 (and LM) responses have no AV pairs, so they cannot carry MsvAvChannelBindings. A "
            "server with Extended Protection 'Require' refuses them; policy LmCompatibilityLevel < 3 on the "
            "client produces them."
        ),
        fix="Set the client's LAN Manager authentication level to 'Send NTLMv2 response only' (level >= 3), "
        "or lower Extended Protection to Allow for that endpoint.",
        references=("MS-NLMP §3.3.1 (NTLM v1 authentication)", _NLMP_CBT, _EP_IIS),
        windows=("Network security: LAN Manager authentication level",),
        status=401,
        signatures=(
            r"\bntlm ?v1\b[\s\S]{0,120}(refused|rejected|not allowed|denied)",
            r"\bLmCompatibilityLevel\b",
        ),
    ),
    Failure(
        code="ntlm-spn-not-allowed",
        iis_win32=0xC000035B,
        freb_error=(0x80090346, "Client's supplied SSPI channel bindings were incorrect."),
        area="ntlm",
        title="Extended Protection 'Proxy' mode: the SPN in MsvAvTargetName is not in the allowed list",
        cause=(
            "With the IIS flag Proxy the server skips the exact channel-binding match (a proxy terminates "
            "TLS) and instead checks the SPN the client put in MsvAvTargetName against its configured <spn> "
            "list. The client named a host (HTTP/proxy-name) that is not listed."
        ),
        fix="Add the published host name as <spn name=\"HTTP/host\"/> under extendedProtection, or use the "
        "listed name in the client URL.",
        references=(_EP_IIS, _NLMP_AV),
        windows=("extendedProtection flags=\"Proxy\"",),
        status=401,
        signatures=(
            r"(spn|service principal name|MsvAvTargetName)[\s\S]{0,80}not (in the )?(allowed|permitted)",
        ),
    ),
    Failure(
        code="ntlm-zero-binding",
        iis_win32=0xC000035B,
        freb_error=(0x80090346, "Client's supplied SSPI channel bindings were incorrect."),
        area="ntlm",
        title="An all-zero (unbound) channel binding was refused",
        cause=(
            "The client sent MsvAvChannelBindings of 16 zero bytes ('unbound': it had no TLS channel to "
            "bind, e.g. it talked HTTP to an offloading proxy). Windows fails a zero binding even in Allow "
            "mode, and the Proxy flag requires a binding that is not unbound."
        ),
        fix="Let the client speak TLS to the endpoint (no HTTP offload in front of Extended Protection), or "
        "set Extended Protection to None for that path.",
        references=(_NLMP_CBT, _NLMP_AV, _EP_IIS),
        status=401,
        signatures=(
            r"(all[- ]zero|zero|unbound|empty) (channel )?bindings?[\s\S]{0,60}(refused|rejected|fail)",
        ),
    ),
    Failure(
        code="ntlm-three-401",
        area="ntlm",
        title="An NTLM/Negotiate logon ended in three 401 responses",
        cause=(
            "A successful NTLM logon shows at most two 401s per connection (anonymous request -> 401 with "
            "the offered schemes; NEGOTIATE -> 401 with the CHALLENGE) and then a 2xx. A third 401 means "
            "the AUTHENTICATE message failed: its sc-win32-status names why (3221226331 bad bindings, "
            "2148074248 invalid token, 1326 wrong password)."
        ),
        fix="Look at the third request's win32 status or its FREB trace (MODULE_SET_RESPONSE_ERROR_STATUS "
        "ErrorCode); 'bridgehead explain' that code.",
        references=("MS-NLMP §1.3.1.1 (NTLM connection-oriented message sequence)", _IIS_STATUS),
        windows=("IIS 401 2 5, 401 1 2148074254, 401 1 <error>",),
        status=401,
        signatures=(
            r"three (consecutive )?401",
            r"401 2 5[\s\S]{0,300}401 1 2148074254[\s\S]{0,300}401 1 \d+",
        ),
    ),
    Failure(
        code="ntlm-proxy-in-path",
        area="ntlm",
        title="A proxy in the path (X-Forwarded-For) next to authentication failures",
        cause=(
            "Requests that fail NTLM/Negotiate carry X-Forwarded-For: a reverse proxy or load balancer "
            "forwarded them. If it terminates TLS, Extended Protection cannot pass unless it uses the "
            "server's own certificate; NTLM also needs connection affinity through it."
        ),
        fix="Check how that proxy publishes the endpoint: passthrough or same-certificate re-encryption for "
        "Extended Protection, connection pinning for NTLM.",
        references=(_EP_EXCHANGE, "RFC 7239 (Forwarded)"),
        status=401,
        signatures=(r"x-forwarded-for[\s\S]{0,400}\b401\b", r"\b401\b[\s\S]{0,400}x-forwarded-for"),
    ),
    Failure(
        code="ep-offload-unsupported",
        area="ntlm",
        title="SSL offloading in front of Exchange with Extended Protection is not supported",
        cause=(
            "With SSL offloading the proxy talks plain HTTP to Exchange: there is no TLS channel on the "
            "server side to bind, so channel-bound logons fail, and Exchange's OAuth audience check sees "
            "http instead of https. Microsoft supports SSL bridging (re-encryption) only, and with Extended "
            "Protection only with the same certificate."
        ),
        fix="Switch the load balancer from offloading to bridging with the Exchange certificate, or to "
        "passthrough.",
        references=(_EP_EXCHANGE, _RFC5929),
        status=401,
        signatures=(r"ssl[- ]offload\w*[\s\S]{0,200}extended protection", r"extended protection[\s\S]{0,200}"
                    r"ssl[- ]offload\w*"),
    ),
    Failure(
        code="mrs-authenticated-bad-request",
        area="ntlm",
        title="Logon worked, the request was refused with 400 Bad Request (mrsproxy.svc with Extended "
        "Protection None)",
        cause=(
            "With Extended Protection None the NTLM logon through a proxy with another certificate "
            "succeeds; a manual test (Invoke-WebRequest -Method POST) then gets 400 because it sends no MRS "
            "payload. This is the working state, not a failure: the seed's row 'Off -> 400'."
        ),
        fix="Nothing to fix for the logon. Test with a real migration (Test-MigrationServerAvailability) or "
        "compare with Allow/Require, which answer 401 through the same proxy.",
        references=(_EP_EXCHANGE,),
        status=400,
        signatures=(
            r"mrsproxy\.svc[\s\S]{0,300}\(400\) bad request",
            r"\(400\) bad request[\s\S]{0,300}mrsproxy",
        ),
    ),
    Failure(
        code="ntlm-stale-response",
        area="ntlm",
        title="The NTLMv2 response's timestamp is too far from the server's clock",
        cause="The NTLMv2 proof verified, but the TimeStamp inside it (NTLMv2_CLIENT_CHALLENGE) is more than "
        "the allowed skew (MaxLifetime, 36 hours on Windows) before or after the server's time: a captured "
        "response replayed later, or a client or server clock that is far off.",
        fix="Correct the clock of the client or the server (w32tm /query /status; NTP). If it is neither, the "
        "response was recorded and replayed: find the client that sent it.",
        references=(_NLMP_SRV, "MS-NLMP §3.1.1.1 (MaxLifetime)", "MS-NLMP §2.2.2.7 (NTLMv2_CLIENT_CHALLENGE)"),
        status=401,
        signatures=(r"NTLMv2 response's TimeStamp .* the server's clock",),
    ),
)
