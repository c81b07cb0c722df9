"""GSSAPI/KDC error texts of a delegation step → a failure-registry code with the cause for this case.

MIT krb5 (the client library under python-gssapi) reports KDC errors as minor-status texts; the stage tells
which request failed (``acquire`` = AS-REQ with the keytab, ``s4u2self``, ``s4u2proxy``, ``backend``). The same
KDC error means different things per stage, most of all KDC_ERR_BADOPTION (RFC 4120 §7.5.9, code 13), which the
KDC returns for S4U2Proxy (MS-SFU §3.2.5.2) in two cases that look identical on the wire:

* the proxy is not allowed protocol transition (AD: "use any authentication protocol" /
  TrustedToAuthForDelegation; Heimdal: +trusted-for-delegation): S4U2Self still succeeds but the evidence ticket
  is **not forwardable** (MS-SFU §3.2.5.1.2), and S4U2Proxy refuses it;
* the proxy may delegate, but the SPN is not in its list (msDS-AllowedToDelegateTo; Heimdal
  --constrained-delegation): the evidence ticket **is forwardable** and only S4U2Proxy fails.

So the runtime passes ``evidence_forwardable`` (read from the S4U2Self ticket's flags) and the diagnosis names
the one cause that applies; without it, both are named with how to tell them apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STAGES = ("keytab", "acquire", "s4u2self", "s4u2proxy", "backend", "timeout")


@dataclass(frozen=True)
class Diagnosis:
    code: str  # failure registry code
    stage: str
    summary: str  # one line for this case (no secrets)
    fix: str
    detail: str = ""  # the library's text, trimmed


_UNREACH = re.compile(r"cannot contact any kdc|unable to reach any kdc|cannot find kdc|kdc unreach", re.I)
_SKEW = re.compile(r"clock skew too great|KRB_AP_ERR_SKEW", re.I)
_CLIENT = re.compile(r"client (not found in kerberos database|\([^)]*\) unknown)|C_PRINCIPAL_UNKNOWN", re.I)
_SERVER = re.compile(r"server (not found in kerberos database|\([^)]*\) unknown)|S_PRINCIPAL_UNKNOWN", re.I)
_BADOPTION = re.compile(r"KDC can'?t fulfill requested option|KDC_ERR_BADOPTION", re.I)
_KEY = re.compile(r"preauthentication failed|password incorrect|decrypt integrity check failed|"
                  r"key version number .* is incorrect|not found in keytab|no key table entry|"
                  r"no suitable keys|KRB_AP_ERR_BADKEYVER|KRB_AP_ERR_MODIFIED", re.I)
_NO_KEYTAB = re.compile(r"no credentials cache found|key table file .* not found|no such file", re.I)
_REPLAY = re.compile(r"request is a replay|KRB_AP_ERR_REPEAT", re.I)


def short(text: str, limit: int = 240) -> str:
    """The minor-status part of a GSSAPI message, one line, bounded."""
    text = " ".join(text.split())
    minor = re.search(r"Minor \(\d+\): (.*)$", text)
    if minor:
        text = minor.group(1)
    return text[:limit]


def classify(text: str, stage: str, *, spn: str = "", principal: str = "", user: str = "",
             evidence_forwardable: bool | None = None) -> Diagnosis:
    """The registry code, a one-line summary and the fix for an error ``text`` seen at ``stage``."""
    detail = short(text)
    if stage == "timeout":
        return Diagnosis("krb-kdc-unreachable", stage, f"the KDC did not answer in time ({detail})",
                         "Check that the proxy reaches a KDC on 88/tcp+udp; TMG answered 408 here "
                         "(kcd-kdc-timeout-408).", detail)
    if _UNREACH.search(text):
        return Diagnosis("krb-kdc-unreachable", stage, "no KDC of the realm answered",
                         "Start/reach the KDC: krb5.conf [realms] kdc = host:88 (or DNS SRV), firewall 88/tcp+udp.",
                         detail)
    if _SKEW.search(text):
        return Diagnosis("krb-clock-skew", stage, "clocks of proxy and KDC differ by more than the allowed skew",
                         "Synchronise time with NTP on the proxy and the KDC.", detail)
    if _BADOPTION.search(text):
        return _badoption(stage, spn, principal, evidence_forwardable, detail)
    if _CLIENT.search(text):
        if stage == "acquire":
            return Diagnosis("krb-wrong-keytab", stage, f"the KDC does not know the proxy principal {principal}",
                             "Create the proxy's account/principal or fix kerberos.principal.", detail)
        return Diagnosis("krb-client-unknown", stage, f"the mapped user {user or '?'} is no principal of the realm",
                         "Check the route's user_mapping and the UPN/e-mail in the certificate.", detail)
    if _SERVER.search(text):
        return Diagnosis("krb-principal-unknown", stage, f"the KDC does not know the SPN {spn or '?'}",
                         "Register the SPN on the backend's account or change kerberos.spn (short name vs FQDN).",
                         detail)
    if _REPLAY.search(text):
        return Diagnosis("krb-replay", stage, "the backend saw the same authenticator twice",
                         "Never replay a Negotiate header; each request needs a fresh AP-REQ.", detail)
    if _KEY.search(text):
        return Diagnosis("krb-wrong-keytab", stage, _key_summary(stage, principal, spn),
                         "Export a fresh keytab (kadmin ext_keytab / ktpass) and compare kvno (klist -k) with the "
                         "KDC's.", detail)
    if stage in ("keytab", "acquire") and _NO_KEYTAB.search(text):
        return Diagnosis("kcd-keytab-unusable", stage,
                         f"the keytab holds no usable key for {principal} (missing file or other principal)",
                         "Point kerberos.keytab at the proxy's keytab and check it with klist -k.", detail)
    return Diagnosis("kcd-delegated-401-403", stage, f"delegation failed at {stage}: {detail}",
                     "See the KDC's log for this request.", detail)


def _key_summary(stage: str, principal: str, spn: str) -> str:
    if stage == "acquire":
        return f"the keytab's key for {principal} is not the KDC's (stale kvno after a key change?)"
    return f"the backend cannot decrypt the ticket for {spn}: its keytab is stale or the SPN is on another account"


def _badoption(stage: str, spn: str, principal: str, forwardable: bool | None, detail: str) -> Diagnosis:
    if stage == "s4u2proxy" and forwardable is False:
        return Diagnosis("kcd-protocol-transition-denied", stage,
                         f"{principal} may not use protocol transition: its S4U2Self ticket is not forwardable, so "
                         "the KDC refuses S4U2Proxy (KDC_ERR_BADOPTION)",
                         "Trust the proxy's account for delegation with 'use any authentication protocol' "
                         "(Heimdal: kadmin modify --attributes=+trusted-for-delegation).", detail)
    if stage == "s4u2proxy" and forwardable is True:
        return Diagnosis("kcd-spn-not-in-list", stage,
                         f"{spn} is not in the delegation list of {principal} (S4U2Self ticket forwardable, "
                         "S4U2Proxy refused: KDC_ERR_BADOPTION)",
                         f"Add {spn} to the proxy's 'services to which this account may present delegated "
                         "credentials' (msDS-AllowedToDelegateTo; Heimdal: --constrained-delegation).", detail)
    return Diagnosis("krb-badoption", stage,
                     "KDC_ERR_BADOPTION: either the proxy is not trusted for delegation/protocol transition, or the "
                     "SPN is not in its delegation list — if the S4U2Self ticket is forwardable it is the list",
                     "Run 'bridgehead kcd test' for this route: it reads the S4U2Self ticket's flags and names "
                     "which.", detail)


def clock_skew(kdc_time: float, local_time: float, allowed: float = 300.0) -> tuple[float, bool]:
    """Skew in seconds (KDC minus local) and whether it is within ``allowed`` (RFC 4120 §3.2.3, 5 min)."""
    skew = kdc_time - local_time
    return skew, abs(skew) <= allowed
