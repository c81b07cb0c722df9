"""Failure entries met in the logs ``bridgehead logs scan`` reads: Exchange HttpProxy, MRS reports, 4771.

Exchange's front end (HttpProxy, the "Cafe") logs every request it proxies to a mailbox server
as CSV (``Logging\\HttpProxy\\<protocol>\\HttpProxy_*.LOG``: ``HttpStatus``, ``BackEndStatus``,
``ErrorCode``, ``GenericErrors``); a mailbox move reports its retries in the move report
(``Get-MoveRequestStatistics -IncludeReport``); a domain controller logs a failed Kerberos
pre-authentication as Security event 4771 with the Kerberos error in ``Status``.
"""

from __future__ import annotations

from bridgehead.failures.model import Failure

_RFC4120_ERR = "RFC 4120 §7.5.9 (error codes)"
_EV4771 = ("https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-10/security/"
           "threat-protection/auditing/event-4771")
_COMPONENT_STATE = "https://learn.microsoft.com/en-us/powershell/module/exchange/get-servercomponentstate"
_MOVE_STATS = "https://learn.microsoft.com/en-us/powershell/module/exchange/get-moverequeststatistics"
_MIG_ENDPOINT = ("https://learn.microsoft.com/en-us/archive/blogs/exovoice/"
                 "troubleshooting-issues-where-the-migration-endpoint-cannot-be-created-in-hybrid-scenarios")
_MRS_PROXY = "https://learn.microsoft.com/en-us/exchange/enable-the-mrs-proxy-endpoint-for-remote-moves-exchange-2013-help"

ENTRIES: tuple[Failure, ...] = (
    Failure(
        code="krb-preauth-failed",
        area="kerberos",
        title="Kerberos pre-authentication failed (KDC_ERR_PREAUTH_FAILED): wrong password",
        cause=(
            "The KDC could not decrypt the client's pre-authentication data with the account's key: the password "
            "typed or stored (a service account, a mapped drive, a phone, a scheduled task) is not the current one. "
            "Many of them in a row lock the account."
        ),
        fix=(
            "Find the source in event 4771 (Client Address) and update the stored password there; for a service "
            "account also regenerate its keytab. If the password is right, check that client and KDC agree on the "
            "account's salt (an account renamed since its keys were made)."
        ),
        references=(_RFC4120_ERR, _EV4771),
        windows=("KDC_ERR_PREAUTH_FAILED (24, 0x18)", "Security event 4771 failure code 0x18"),
        status=401,
        signatures=(
            r"KDC_ERR_PREAUTH_FAILED\b",
            r"pre-?authentication (?:information was )?invalid",
            r"Kerberos pre-authentication failed[\s\S]{0,200}Failure Code:?\s+0x18\b",
        ),
    ),
    Failure(
        code="exchange-frontend-auth-failed",
        area="ntlm",
        title="The Exchange front end (HttpProxy) refused the request's authentication",
        cause=(
            "HttpProxy logged the request with HTTP 401/403 and an authentication error code before it reached "
            "the mailbox server: the credentials, ticket or token were not accepted by the Client Access front "
            "end (wrong password, an account locked out, a token for another audience, Extended Protection "
            "broken by a proxy that re-encrypts)."
        ),
        fix=(
            "Read the ErrorCode and GenericErrors of the logged request (bridgehead shows the code as the "
            "finding's detail); run the same request with `bridgehead probe` from the proxy's side and compare "
            "the authentication schemes the front end offers with the ones the client sends."
        ),
        references=(_COMPONENT_STATE,),
        exchange=("HttpProxy log: HttpStatus 401/403 with an ErrorCode",),
        status=401,
    ),
    Failure(
        code="exchange-backend-unavailable",
        area="reverse",
        title="The Exchange front end (HttpProxy) could not reach the mailbox server behind it",
        cause=(
            "HttpProxy answered 5xx without a response from the back end: the mailbox server chosen for the "
            "mailbox was down, in maintenance (a ServerComponentState inactive), refused the connection on 444, "
            "or presented a certificate on the 'Exchange Back End' site that the front end does not trust."
        ),
        fix=(
            "On the target server: Get-ServerComponentState (all Active), Test-ServiceHealth, the certificate bound "
            "to 'Exchange Back End' on port 444 (valid, not expired); then retry the request through the proxy."
        ),
        references=(_COMPONENT_STATE,),
        exchange=("HttpProxy log: HttpStatus 503 with an empty or failed BackEndStatus",),
        status=503,
    ),
    Failure(
        code="mrs-transient-failure",
        area="ntlm",
        title="A mailbox move is retrying after transient errors",
        cause=(
            "The Mailbox Replication Service hit an error it treats as transient (a dropped or refused connection "
            "to mrsproxy.svc, a proxy that timed out a long request, a 401/5xx from the endpoint) and retries; "
            "after the retry budget the move fails. The underlying error is in the same report entry."
        ),
        fix=(
            "Read the error details after 'Transient error … has occurred' in the move report; fix the cause "
            "named there (MRSProxy enabled on every server, the proxy's idle and request timeouts longer than a "
            "move's calls, NTLM not broken by a re-encrypting proxy), then Resume-MoveRequest."
        ),
        references=(_MOVE_STATS, _MIG_ENDPOINT, _MRS_PROXY),
        exchange=("Transient error CommunicationErrorTransientException has occurred. The system will retry",),
        status=503,
        signatures=(
            r"\bTransient error [A-Za-z]+Exception has occurred\b",
            r"\bThe system will retry \(\d+/\d+\)",
        ),
    ),
)
