"""Generated log samples in the real formats: FREB traces, IIS W3C lines, Event XML.

The FREB layout follows what IIS writes (root ``failedRequest`` with the attributes of
DESIGN.md §5, ``Event`` elements in the Windows event schema with ``RenderingInfo/Opcode``);
the error event carries the number in EventData and the rendered ``text (0xHHHHHHHH)`` in
RenderingInfo, as IIS does. Used by the tests and by bench/logs.py.
"""

from __future__ import annotations

import base64
import struct
from xml.sax.saxutils import escape, quoteattr

IIS_FIELDS = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
              "cs(Referer) sc-status sc-substatus sc-win32-status time-taken")
IIS_HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2024-09-10 00:00:00\n"
    f"#Fields: {IIS_FIELDS}\n"
)
BAD_BINDINGS_TEXT = "Client's supplied SSPI channel bindings were incorrect."


def ntlm_authenticate(user: str, domain: str, workstation: str) -> bytes:
    """A minimal NTLM AUTHENTICATE_MESSAGE (MS-NLMP §2.2.1.3) with Unicode names and a v2-sized response."""
    payload_off = 88
    d, u, w = (s.encode("utf-16-le") for s in (domain, user, workstation))
    lm, nt = b"\x00" * 24, b"\x11" * 48
    fields = []
    off = payload_off
    for blob in (lm, nt, d, u, w, b""):
        fields.append((len(blob), off))
        off += len(blob)
    head = b"NTLMSSP\x00" + struct.pack("<I", 3)
    for length, o in fields:
        head += struct.pack("<HHI", length, length, o)
    head += struct.pack("<I", 0x00000001 | 0x00000200 | 0x00080000)  # UNICODE | NTLM | EXTENDED_SESSIONSECURITY
    head = head.ljust(payload_off, b"\x00")
    return head + lm + nt + d + u + w


def ntlm_header(user: str = "miguser", domain: str = "MSXFAQ", workstation: str = "PADPRO08MB6223") -> str:
    return "NTLM " + base64.b64encode(ntlm_authenticate(user, domain, workstation)).decode()


def _event(opcode: str, data: dict[str, str], render: dict[str, str] | None = None,
           time: str = "2024-09-10T10:00:01.123Z") -> str:
    items = "".join(f'<Data Name="{k}">{escape(v)}</Data>' for k, v in data.items())
    desc = "".join(f'<Description Data="{k}">{escape(v)}</Description>' for k, v in (render or {}).items())
    return (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="WWW Server" Guid="{3A2A4E84-4C21-4981-AE10-3FDA0D9B0F83}"/><EventID>0</EventID>'
        f'<Version>1</Version><Level>4</Level><Opcode>1</Opcode><Keywords>0x0</Keywords>'
        f'<TimeCreated SystemTime="{time}"/><Correlation ActivityID="{{80000001-0000-F900-B63F-84710C7967BB}}"/>'
        '<Execution ProcessID="4242" ThreadID="1234"/><Computer>EX01</Computer></System>'
        f"<EventData>{items}</EventData>"
        f'<RenderingInfo Culture="en-US"><Opcode>{opcode}</Opcode>{desc}</RenderingInfo></Event>\n'
    )


def make_freb(url: str = "https://mrs.msxfaq.net:443/EWS/mrsproxy.svc", status: str = "401.1",
              error_code: int | None = 0x80090346, error_text: str = BAD_BINDINGS_TEXT,
              headers: dict[str, str] | None = None, time: str = "2024-09-10T10:00:01.123Z",
              padding_events: int = 4) -> bytes:
    """One FREB trace as IIS writes it."""
    headers = headers if headers is not None else {
        "Connection": "Keep-Alive", "Content-Length": "0", "Host": "mrs.msxfaq.net",
        "Authorization": ntlm_header(), "X-Forwarded-For": "52.97.218.221",
        "X-AnchorMailbox": "MBX:e0e0e0e0-1111-2222-3333-444444444444@msxfaq.de",
    }
    head_text = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    code, sub = [*status.split("."), "0"][:2]
    events = [
        _event("GENERAL_REQUEST_START", {"SiteId": "1", "RequestURL": url, "RequestVerb": "POST"}, time=time),
        _event("GENERAL_REQUEST_HEADERS", {"Headers": head_text}, time=time),
        _event("AUTH_START", {"AuthTypeSupported": "NTLM"}, time=time),
        _event("AUTH_REQUEST_AUTH_TYPE", {"RequestAuthType": "4"}, {"RequestAuthType": "NTLM"}, time=time),
    ]
    events += [_event("GENERAL_FLUSH_RESPONSE_START", {"Info": "x" * 40}, time=time)] * padding_events
    if error_code is not None:
        events.append(_event(
            "MODULE_SET_RESPONSE_ERROR_STATUS",
            {"ModuleName": "WindowsAuthenticationModule", "Notification": "2", "HttpStatus": code,
             "HttpReason": "Unauthorized", "HttpSubStatus": sub, "ErrorCode": str(error_code),
             "ConfigExceptionInfo": ""},
            {"Notification": "AUTHENTICATE_REQUEST", "ErrorCode": f"{error_text} (0x{error_code:08x})"},
            time=time,
        ))
    root_attrs = {
        "url": url, "siteId": "1", "appPoolId": "MSExchangeServicesAppPool", "processId": "4242", "verb": "POST",
        "remoteUserName": "", "userName": "", "tokenUserName": "NT AUTHORITY\\IUSR",
        "authenticationType": "NOT_AVAILABLE", "activityId": "{80000001-0000-F900-B63F-84710C7967BB}",
        "failureReason": "STATUS_CODE", "statusCode": status, "triggerStatusCode": status, "timeTaken": "15",
    }
    attrs = "\n".join(f"    {k}={quoteattr(v)}" for k, v in root_attrs.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type=\'text/xsl\' href=\'freb.xsl\'?>\n'
        "<!-- saved from url=(0014)about:internet -->\n"
        f'<failedRequest {attrs}\n    xmlns:freb="http://schemas.microsoft.com/win/2006/06/iis/freb">\n'
        + "".join(events) + "</failedRequest>\n"
    ).encode("utf-8")


def iis_line(time: str, url: str, status: int, sub: int, win32: int, client: str = "10.0.0.9",
             user: str = "-", agent: str = "Mozilla/5.0+(Windows+NT+10.0)") -> str:
    return (f"2024-09-10 {time} 192.168.100.33 POST {url} - 443 {user} {client} {agent} - "
            f"{status} {sub} {win32} 15\n")


SEED_EVENT_XML = """<Event xmlns="https://schemas.microsoft.com/win/2004/08/events/event">
<System>
<Provider Name="Directory Synchronization" />
<EventID Qualifiers="0">0</EventID>
<Level>2</Level>
<Task>0</Task>
<Keywords>0x80000000000000</Keywords>
<TimeCreated SystemTime="2013-12-20T17:44:55.000000000Z" />
<EventRecordID>1248</EventRecordID>
<Channel>Application</Channel>
<Computer>DIRSYNC.example.com</Computer>
<Security />
</System>
<EventData>
<Data>The remote server returned an unexpected response: (502) Proxy Error ( The Web site requires a client \
certificate, but a client certificate cannot be supplied when HTTPS inspection is applied to the request. ).</Data>
</EventData>
</Event>
"""
