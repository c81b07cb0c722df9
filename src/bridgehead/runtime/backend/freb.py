"""FREB (IIS Failed Request Tracing) XML for failed requests, shaped like IIS writes them.

Root ``failedRequest`` with the request's attributes, then ``Event`` elements in the Windows
event schema whose ``RenderingInfo/Opcode`` names the step: GENERAL_REQUEST_START,
GENERAL_REQUEST_HEADERS, AUTH_START, AUTH_REQUEST_AUTH_TYPE, AUTH_SUCCEEDED or
MODULE_SET_RESPONSE_ERROR_STATUS (``ErrorCode`` as ``text (0xHHHHHHHH)``), AUTH_END,
GENERAL_RESPONSE_HEADERS, GENERAL_REQUEST_END. The ``Authorization`` header is written as a
decoded summary, never the token (a captured NTLMv2 response can be cracked offline).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
import uuid
import xml.etree.ElementTree as ET  # writing only; parsing uses defusedxml
from dataclasses import dataclass, field
from pathlib import Path

from bridgehead.failures import REGISTRY

PROVIDER_GUID = "{3A2A4E84-4C21-4981-AE10-3FDA0D9B0F83}"
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
FREB_NS = "http://schemas.microsoft.com/win/2006/06/iis/freb"

# HRESULT and text FREB shows for a failure code (SSPI status, MS-ERREF §2.1): the registry
# entry's ``freb_error``; ERROR_ACCESS_DENIED as an HRESULT when the entry has none.
ACCESS_DENIED = (0x80070005, "Access is denied.")


def freb_error(code: str | None) -> tuple[int, str]:
    """(HRESULT, text) of the ErrorCode FREB writes for registry ``code``."""
    entry = REGISTRY.get(code or "")
    return entry.freb_error if entry is not None and entry.freb_error is not None else ACCESS_DENIED


@dataclass
class FrebRequest:
    url: str
    verb: str
    status: int
    substatus: int
    time_taken_ms: int
    headers: list[tuple[str, str]]
    response_headers: list[tuple[str, str]]
    auth_scheme: str | None
    auth_ok: bool
    user: str | None
    code: str | None
    detail: str
    conn_id: int
    when: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


class FrebWriter:
    def __init__(self, directory: Path, site_id: int = 1, app_pool: str = "MSExchangeServicesAppPool"
                 ) -> None:
        self.directory = directory
        self.site_id = site_id
        self.app_pool = app_pool
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)

    def write(self, req: FrebRequest) -> Path:
        with self._lock:
            path = self.directory / f"fr{next(self._counter):06d}.xml"
        path.write_bytes(render(req, site_id=self.site_id, app_pool=self.app_pool))
        return path


def render(req: FrebRequest, *, site_id: int = 1, app_pool: str = "DefaultAppPool") -> bytes:
    activity = "{" + str(uuid.uuid4()).upper() + "}"
    root = ET.Element("failedRequest", {
        "url": req.url, "siteId": str(site_id), "appPoolId": app_pool, "processId": str(os.getpid()),
        "verb": req.verb, "remoteUserName": "", "userName": req.user or "", "tokenUserName": req.user or "",
        "authenticationType": req.auth_scheme or "NOT_AVAILABLE", "activityId": activity,
        "failureReason": "STATUS_CODE", "statusCode": f"{req.status}.{req.substatus}",
        "triggerStatusCode": f"{req.status}.{req.substatus}", "timeTaken": str(req.time_taken_ms),
        "xmlns:freb": FREB_NS,
    })
    seq = itertools.count(1)

    def event(opcode: str, data: list[tuple[str, str]], level: int = 4) -> None:
        ev = ET.SubElement(root, "Event", {"xmlns": EVENT_NS})
        system = ET.SubElement(ev, "System")
        ET.SubElement(system, "Provider", {"Name": "WWW Server", "Guid": PROVIDER_GUID})
        ET.SubElement(system, "EventID").text = "0"
        ET.SubElement(system, "Version").text = "1"
        ET.SubElement(system, "Level").text = str(level)
        ET.SubElement(system, "Opcode").text = str(next(seq))
        ET.SubElement(system, "Keywords").text = "0x0"
        ET.SubElement(system, "TimeCreated", {"SystemTime": req.when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
        ET.SubElement(system, "Correlation", {"ActivityID": activity})
        ET.SubElement(system, "Execution", {"ProcessID": str(os.getpid()), "ThreadID": "1"})
        ET.SubElement(system, "Computer").text = "BACKEND"
        data_el = ET.SubElement(ev, "EventData")
        ET.SubElement(data_el, "Data", {"Name": "ContextId"}).text = activity
        for name, value in data:
            ET.SubElement(data_el, "Data", {"Name": name}).text = value
        rendering = ET.SubElement(ev, "RenderingInfo", {"Culture": "en-US"})
        ET.SubElement(rendering, "Opcode").text = opcode

    event("GENERAL_REQUEST_START", [("SiteId", str(site_id)), ("AppPoolId", app_pool),
                                    ("ConnId", str(req.conn_id)), ("RequestURL", req.url),
                                    ("RequestVerb", req.verb)])
    header_text = "".join(f"{k}: {v}\r\n" for k, v in req.headers)
    event("GENERAL_REQUEST_HEADERS", [("Headers", header_text)])
    event("AUTH_START", [("AuthTypeSupported", "Negotiate, NTLM, Basic")])
    event("AUTH_REQUEST_AUTH_TYPE", [("RequestAuthType", req.auth_scheme or "None")])
    if req.auth_ok:
        event("AUTH_SUCCEEDED", [("AuthType", req.auth_scheme or ""), ("NTLMUsed", "true"),
                                 ("RemoteUserName", req.user or ""), ("AuthUserName", req.user or ""),
                                 ("TokenImpersonationLevel", "ImpersonationImpersonate")])
    else:
        number, text = freb_error(req.code)
        module = "BasicAuthenticationModule" if req.auth_scheme == "Basic" else "WindowsAuthenticationModule"
        event("MODULE_SET_RESPONSE_ERROR_STATUS", [
            ("ModuleName", module),
            ("Notification", "AUTHENTICATE_REQUEST"), ("HttpStatus", str(req.status)),
            ("HttpReason", "Unauthorized" if req.status == 401 else "Bad Request"),
            ("HttpSubStatus", str(req.substatus)), ("ErrorCode", f"{text} (0x{number:08x})"),
            ("ConfigExceptionInfo", ""), ("BridgeheadCode", req.code or ""), ("BridgeheadDetail", req.detail),
        ], level=3)
    event("AUTH_END", [])
    response_text = "".join(f"{k}: {v}\r\n" for k, v in req.response_headers)
    event("GENERAL_RESPONSE_HEADERS", [("Headers", response_text)])
    event("GENERAL_REQUEST_END", [("BytesSent", "0"), ("BytesReceived", "0"), ("HttpStatus", str(req.status)),
                                  ("HttpSubStatus", str(req.substatus))])
    body = ET.tostring(root, encoding="unicode")
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/xsl" href="freb.xsl"?>\n'
    return (head + body + "\n").encode("utf-8")
