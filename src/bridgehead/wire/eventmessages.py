"""Message texts of the Windows events that name a failure, rendered from an event's data.

An event read from an ``.evtx`` file (or exported with ``wevtutil qe /f:xml``) carries only its
insertion strings (``EventData/Data``): the sentence an admin sees in Event Viewer comes from the
provider's message file on the machine that wrote it. For the events below, :func:`render`
rebuilds that sentence from the data so that the event is matched by the registry's wording as
if it had been copied out of Event Viewer. ``{Name}`` is a named ``Data`` value, ``{1}`` the
first value (``%1`` of a classic event). Pure: no I/O.

Sources (message texts as Microsoft documents them):
- Schannel 36874/36887/36888 ("Schannel Events",
  https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-server-2012-R2-and-2012/dn786445(v=ws.11)):
  ``AlertDesc`` holds the TLS alert number (RFC 8446 §6), ``ErrorState`` Schannel's internal state;
  36888 says "fatal error code" where 36887 says "fatal alert code".
- KDC 14/16/27 (Microsoft-Windows-Kerberos-Key-Distribution-Center): KB4492348 ("Unsupported etype"
  error when accessing a resource in a trusted domain) and KB5021131 (event 27 after the
  November 2022 etype changes).
- Security 4771: https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-10/security/threat-protection/auditing/event-4771
  (``Status`` is the Kerberos error code in hex, RFC 4120 §7.5.9).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SCHANNEL = "schannel"
KDC = "microsoft-windows-kerberos-key-distribution-center"
SECURITY = "microsoft-windows-security-auditing"
_PROVIDER_ALIASES = {"kdc": KDC, "microsoft-windows-schannel": SCHANNEL}

_KDC_TGS = ("While processing a TGS request for the target server {1}, the account {2} did not have a suitable "
            "key for generating a Kerberos ticket (the missing key has an ID of {3}). The requested etypes were "
            "{4}. The accounts available etypes were {5}.")
MESSAGES: dict[tuple[str, int], str] = {
    (SCHANNEL, 36874): "An {Protocol} connection request was received from a remote client application, but none "
                       "of the cipher suites supported by the client application are supported by the server. "
                       "The TLS connection request has failed.",
    (SCHANNEL, 36887): "A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert "
                       "code is {AlertDesc}.",
    (SCHANNEL, 36888): "A fatal alert was generated and sent to the remote endpoint. This may result in "
                       "termination of the connection. The TLS protocol defined fatal error code is {AlertDesc}. "
                       "The Windows SChannel error state is {ErrorState}.",
    (KDC, 14): "While processing an AS request for target service {1}, the account {2} did not have a suitable key "
               "for generating a Kerberos ticket (the missing key has an ID of {3}). The requested etypes : {4}. "
               "The accounts available etypes : {5}.",
    (KDC, 16): _KDC_TGS,
    (KDC, 27): _KDC_TGS,
    (SECURITY, 4771): "Kerberos pre-authentication failed.\nAccount Name: {TargetUserName}\nService Name: "
                      "{ServiceName}\nFailure Code: {Status}\nPre-Authentication Type: {PreAuthType}\n"
                      "Client Address: {IpAddress}",
}
_SLOT = re.compile(r"\{(\w+)\}")


def _provider(name: str) -> str:
    key = name.strip().lower()
    return _PROVIDER_ALIASES.get(key, key)


def render(provider: str, event_id: str | int, data: Sequence[tuple[str, str]]) -> str | None:
    """The Event Viewer sentence of a known event, or ``None`` (unknown event, no data)."""
    try:
        number = int(str(event_id).strip())
    except ValueError:
        return None
    template = MESSAGES.get((_provider(provider), number))
    if template is None or not data:
        return None
    named = {name: value for name, value in data}
    values = [value for _, value in data]

    def slot(m: re.Match[str]) -> str:
        key = m.group(1)
        if key.isdigit():
            i = int(key) - 1
            return values[i] if 0 <= i < len(values) else ""
        return named.get(key, "")

    return _SLOT.sub(slot, template)
