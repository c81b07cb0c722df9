"""Failure entries of the kerberos area: Kerberos and constrained delegation (scenario S4, seed 004).

Kerberos error numbers are small (RFC 4120 §7.5.9: 6, 7, 13, 37 …) and would collide with any
number in a text, so they are named in ``windows`` and matched by name, not by ``numbers``;
``numbers`` holds only the 32-bit Windows values.
"""

from __future__ import annotations

from bridgehead.failures.model import Failure

_RFC4120_ERR = "RFC 4120 §7.5.9 (error codes)"
_SFU = "MS-SFU §3.2.5 (S4U2self / S4U2proxy)"
_KILE = "MS-KILE §3.3.5.7 (KDC: S4U)"
_KCD = "https://learn.microsoft.com/en-us/windows-server/security/kerberos/kerberos-constrained-delegation-overview"
_TMG_KCD = "https://learn.microsoft.com/en-us/previous-versions/tn-archive/cc995228(v=technet.10)"
_ERREF_HR = "MS-ERREF §2.1 (HRESULT values)"

ENTRIES: tuple[Failure, ...] = (
    Failure(
        code="krb-clock-skew",
        hresult=(0x80090324,),
        ntstatus=(0xC0000133,),
        area="kerberos",
        title="Clock skew too great (KRB_AP_ERR_SKEW)",
        cause="The clocks of client, KDC and server differ by more than the allowed skew (5 minutes by "
        "default): authenticators and tickets look expired or from the future.",
        fix="Synchronise time (NTP; on Windows the domain hierarchy: w32tm /resync); check time zones of "
        "non-Windows hosts.",
        references=(_RFC4120_ERR, "RFC 4120 §3.2.3"),
        windows=("KRB_AP_ERR_SKEW (37, 0x25)", "SEC_E_TIME_SKEW 0x80090324", "STATUS_TIME_DIFFERENCE_AT_DC "
        "0xC0000133"),
        status=401,
        signatures=(r"KRB_AP_ERR_SKEW\b", r"clock skew too great", r"too (large|great) time skew",
                    r"\bSEC_E_TIME_SKEW\b"),
    ),
    Failure(
        code="krb-badoption",
        area="kerberos",
        title="KDC can't fulfill requested option (KDC_ERR_BADOPTION)",
        cause=(
            "In constrained delegation the KDC refused S4U2Self/S4U2Proxy. Two causes look the same: (1) "
            "the proxy's account is not trusted for delegation at all (or not for protocol transition, 'use "
            "any authentication protocol', needed when the user came with a client certificate or "
            "password); (2) it is, but the backend SPN is not in its msDS-AllowedToDelegateTo list "
            "(Heimdal: --constrained-delegation). Tell them apart: if S4U2Self yields a forwardable ticket "
            "and only S4U2Proxy fails, it is the SPN list; if the S4U2Self ticket is not forwardable, it is "
            "the delegation setting."
        ),
        fix="On the proxy's account: Delegation tab -> 'Trust this computer for delegation to specified "
        "services only' + 'Use any authentication protocol', and add the backend SPN (http/host, also for "
        "HTTPS). 'bridgehead' configuration self-test names which part is missing.",
        references=(_RFC4120_ERR, _SFU, _KILE, _KCD),
        windows=("KDC_ERR_BADOPTION (13, 0xD)", "Security event 4769 failure code 0xD",
                 "STATUS_NOT_SUPPORTED / SEC_E_DELEGATION_POLICY"),
        status=401,
        signatures=(r"KDC_ERR_BADOPTION\b", r"KDC can'?t fulfill requested option",
                    r"\bSEC_E_DELEGATION_POLICY\b"),
        numbers=(0x8009035E,),
    ),
    Failure(
        code="krb-principal-unknown",
        area="kerberos",
        title="Server not found in Kerberos database (KDC_ERR_S_PRINCIPAL_UNKNOWN)",
        cause="No account holds the requested SPN: the SPN template built http/short-name where only the "
        "FQDN is registered (or the reverse), a typo, or the wrong realm.",
        fix="Register the SPN on the backend's account (setspn -S HTTP/host account, or via ADUC), or "
        "change the route's SPN to a registered one (try the FQDN as the seed suggests).",
        references=(_RFC4120_ERR, _KCD),
        windows=("KDC_ERR_S_PRINCIPAL_UNKNOWN (7)", "SEC_E_TARGET_UNKNOWN 0x80090303", "KDC event 4769 0x7"),
        status=401,
        signatures=(r"KDC_ERR_S_PRINCIPAL_UNKNOWN\b", r"server not found in kerberos database",
                    r"server \([^)]*\) unknown", r"\bSEC_E_TARGET_UNKNOWN\b"),
        numbers=(0x80090303,),
    ),
    Failure(
        code="krb-client-unknown",
        area="kerberos",
        title="Client not found in Kerberos database (KDC_ERR_C_PRINCIPAL_UNKNOWN)",
        cause="The user principal the proxy asked a ticket for does not exist: the certificate-to-user "
        "mapping produced a name (UPN from the SAN, e-mail, subject) that is no account in the realm.",
        fix="Check the mapping rule and the UPN in the certificate; for S4U2Self the name must be an "
        "existing user principal of the realm (or a trusted one).",
        references=(_RFC4120_ERR, _SFU),
        windows=("KDC_ERR_C_PRINCIPAL_UNKNOWN (6)",),
        status=403,
        signatures=(r"KDC_ERR_C_PRINCIPAL_UNKNOWN\b", r"client not found in kerberos database",
                    r"client \([^)]*\) unknown"),
    ),
    Failure(
        code="krb-kdc-unreachable",
        area="kerberos",
        title="Cannot contact any KDC for the realm",
        cause="No KDC answered on port 88 (DNS SRV records missing, firewall, KDC down) or the realm name "
        "is wrong.",
        fix="Check _kerberos._tcp SRV records / krb5.conf [realms], and that the proxy reaches the KDC on "
        "88/tcp+udp.",
        references=("RFC 4120 §7.2.3 (KDC discovery)",),
        windows=("STATUS_NO_LOGON_SERVERS 0xC000005E", "SEC_E_NO_AUTHENTICATING_AUTHORITY 0x80090311"),
        status=504,
        signatures=(r"cannot contact any KDC", r"unable to reach any KDC", r"\bKRB5_KDC_UNREACH\b",
                    r"\bSEC_E_NO_AUTHENTICATING_AUTHORITY\b",
                    r"no logon servers? (are )?(currently )?available"),
        numbers=(0xC000005E, 0x80090311),
    ),
    Failure(
        code="krb-wrong-keytab",
        area="kerberos",
        title="The service key does not match the ticket (kvno / keytab)",
        cause="The ticket was encrypted with a key the service does not have: a keytab with an old key "
        "version (kvno) after a password change, the wrong enctype, or the wrong principal.",
        fix="Export a fresh keytab for the service principal (ktpass / kadmin ext_keytab) and check its "
        "kvno (klist -k) against the KDC's (kvno HTTP/host).",
        references=(_RFC4120_ERR,),
        windows=("KRB_AP_ERR_BADKEYVER (44)", "KRB_AP_ERR_MODIFIED (41)"),
        status=401,
        signatures=(r"key version (number )?(for principal in key table )?is (incorrect|not available)",
                    r"not found in keytab", r"no key table entry found", r"KRB_AP_ERR_BADKEYVER\b",
                    r"\bkvno\b[\s\S]{0,60}(mismatch|wrong|incorrect)"),
    ),
    Failure(
        code="krb-spn-duplicate",
        area="kerberos",
        title="The SPN is registered on another (or a second) account",
        cause="The KDC encrypted the ticket for the account holding the SPN, which is not the account "
        "running the service (or two accounts hold it and the KDC picks one): the server cannot decrypt it "
        "(KRB_AP_ERR_MODIFIED) and falls back to NTLM or fails.",
        fix="Find duplicates with 'setspn -X' / 'setspn -Q HTTP/host' and keep the SPN only on the "
        "service's account (remove leftovers of SetSPN experiments, as the seed warns).",
        references=(_RFC4120_ERR, _KCD),
        windows=("KRB_AP_ERR_MODIFIED (41)", "KDC event 11: duplicate names", "Security-Kerberos event 4"),
        status=401,
        signatures=(r"KRB_AP_ERR_MODIFIED\b", r"duplicate (names|spn)", r"setspn -x"),
    ),
    Failure(
        code="kcd-delegated-401-403",
        area="kerberos",
        title="401/403 behind a Kerberos constrained delegation publishing rule",
        cause=(
            "The edge accepted the user but the delegated logon to the backend failed: the ticket could not "
            "be obtained (not trusted for delegation / SPN not in the list: krb-badoption), the SPN is "
            "unknown or on the wrong account, the certificate mapped to no user, or the backend's Windows "
            "Authentication has no Negotiate provider (providers list empty, as in the seed's comments)."
        ),
        fix="Check in this order: the backend vdir has Windows Authentication with Negotiate as a provider; "
        "the proxy's account delegates to http/<internal host> (the Exchange/IIS computer, not the proxy) "
        "with protocol transition; the SPN in the rule matches the registered one (short name vs FQDN); the "
        "user mapping. The proxy's log names the KDC error.",
        references=(_TMG_KCD, _KCD, _SFU),
        windows=("401 - Unauthorized: Access is denied due to invalid credentials.", "403 Forbidden"),
        status=401,
        signatures=(
            r"(constrained delegation|\bKCD\b|publishing rule|\bTMG\b)[\s\S]{0,300}\b40[13]\b",
            r"\b40[13]/40[13]\b[\s\S]{0,80}authentication failed",
            r"\b40[13]\b[\s\S]{0,300}(constrained delegation|\bKCD\b|publishing rule)",
            r"401\s*[-\u2013]\s*unauthorized: access is denied due to invalid credentials",
        ),
    ),
    Failure(
        code="kcd-kdc-timeout-408",
        area="kerberos",
        title="408 Request Timeout behind a Kerberos delegation rule: the KDC did not answer",
        cause="The proxy waited for the KDC (S4U2Self/S4U2Proxy) longer than the request timeout: KDC "
        "unreachable or slow, UDP fragments dropped (large PAC), or DNS for the KDC failing.",
        fix="Check that the proxy reaches a KDC on 88/tcp (force TCP for large tickets), DNS SRV records "
        "and the site the proxy sits in.",
        references=(_TMG_KCD, "RFC 4120 §7.2.1", "RFC 9110 §15.5.9 (408)"),
        windows=("KRB_ERR_RESPONSE_TOO_BIG (52)",),
        status=408,
        signatures=(
            r"\b408\b[\s\S]{0,300}(kerberos|delegation|\bKCD\b|\bKDC\b)",
            r"(kerberos|delegation|\bKCD\b|\bKDC\b)[\s\S]{0,300}\b408\b",
            r"\(408\) request time-?out",
        ),
    ),
    Failure(
        code="krb-replay",
        area="kerberos",
        title="Request is a replay (KRB_AP_ERR_REPEAT)",
        cause="The server saw the same authenticator twice: a proxy or client retried a request with the "
        "same Negotiate token, or several services share one replay cache/keytab.",
        fix="Never replay an Authorization: Negotiate header on a retry; obtain a fresh AP-REQ per request.",
        references=(_RFC4120_ERR, "RFC 4120 §3.2.3 (replay cache)"),
        windows=("KRB_AP_ERR_REPEAT (34)",),
        status=401,
        signatures=(r"KRB_AP_ERR_REPEAT\b", r"request is a replay"),
    ),
    Failure(
        code="kcd-protocol-transition-denied",
        area="kerberos",
        title="The proxy may not use protocol transition (S4U2Self ticket not forwardable)",
        cause="S4U2Self succeeded but the KDC issued the evidence ticket without the forwardable flag, "
        "because the proxy's account is not trusted for delegation with 'use any authentication protocol' "
        "(TrustedToAuthForDelegation). S4U2Proxy then fails with KDC_ERR_BADOPTION.",
        fix="On the proxy's account: Delegation tab -> 'Trust this computer for delegation to specified "
        "services only' + 'Use any authentication protocol' (Heimdal: kadmin modify "
        "--attributes=+trusted-for-delegation).",
        references=(_SFU + " (forwardable S4U2self ticket)", _KILE, _KCD),
        windows=("KDC_ERR_BADOPTION (13, 0xD)", "TrustedToAuthForDelegation not set"),
        status=502,
        signatures=(r"protocol transition (is )?(not allowed|denied)", r"S4U2Self ticket (is )?not forwardable"),
    ),
    Failure(
        code="kcd-spn-not-in-list",
        area="kerberos",
        title="The backend SPN is not in the proxy's constrained-delegation list",
        cause="The proxy may use protocol transition (its S4U2Self ticket is forwardable) but the KDC "
        "refused S4U2Proxy to this SPN with KDC_ERR_BADOPTION: the SPN is not in msDS-AllowedToDelegateTo "
        "of the proxy's account (the delegation is set on the proxy's account, listing the backend's "
        "http/host — not on the backend's account, as the seed's comments found out).",
        fix="Add http/<backend host> (the exact form the route's SPN template produces) to the proxy "
        "account's delegation list (Heimdal: kadmin modify --constrained-delegation=HTTP/host@REALM; it "
        "replaces the list).",
        references=(_SFU, _KILE, _KCD, _TMG_KCD),
        windows=("KDC_ERR_BADOPTION (13, 0xD)", "msDS-AllowedToDelegateTo"),
        status=502,
        signatures=(r"not in the (constrained[- ])?delegation list", r"msDS-AllowedToDelegateTo"),
    ),
    Failure(
        code="kcd-keytab-unusable",
        area="kerberos",
        title="The proxy's keytab is missing, unreadable or holds no key for its principal",
        cause="The route's keytab file does not exist, cannot be read by the proxy, is not a keytab, or "
        "holds keys for another principal than the configured one: the proxy cannot obtain its own "
        "credentials.",
        fix="Export the proxy's keytab (kadmin ext_keytab / ktpass) to the configured path with mode 0600 "
        "owned by the proxy's user, and check the principal with 'klist -k'.",
        references=("MIT krb5 keytab file format",),
        windows=("ktpass /princ", "KRB5_KT_NOTFOUND"),
        status=502,
        signatures=(r"keytab (file )?(is )?(missing|unreadable|not found)", r"\bKRB5_KT_NOTFOUND\b",
                    r"no key table entry found"),
    ),
    Failure(
        code="kcd-user-unmapped",
        area="kerberos",
        title="The client certificate maps to no user the proxy can delegate for",
        cause="No user_mapping rule of the route produced a user principal from the client's identity (no "
        "UPN in the SAN, no e-mail, no CN, or a name that is not a plain user principal).",
        fix="Issue certificates with the UPN in the SAN otherName, or add a rule (email-san, "
        "subject-cn@REALM, or a regex rule) that produces user@REALM.",
        references=(_TMG_KCD, "RFC 5280 §4.2.1.6"),
        status=403,
        signatures=(r"no user_mapping rule applies", r"certificate (is )?not mapped to (a|any) user"),
    ),
)
