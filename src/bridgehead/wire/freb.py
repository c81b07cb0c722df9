"""IIS Failed Request Tracing (FREB) files: ``fr000123.xml`` with root ``failedRequest``.

Shape (DESIGN.md §5): root attributes url, siteId, appPoolId, processId, verb,
authenticationType, activityId, failureReason, statusCode (``401.1``), triggerStatusCode,
timeTaken; then ``Event`` elements (Windows event schema) whose ``RenderingInfo/Opcode``
names the step: GENERAL_REQUEST_START, GENERAL_REQUEST_HEADERS (``Data Name="Headers"``),
AUTH_START, AUTH_REQUEST_AUTH_TYPE, AUTH_END, MODULE_SET_RESPONSE_ERROR_STATUS (ModuleName,
Notification, HttpStatus, HttpSubStatus, ErrorCode — a number in EventData, rendered as
``text (0xHHHHHHHH)`` in RenderingInfo).

Parsing goes through defusedxml (entity expansion and external entities refused). For
filtering thousands of files, :func:`peek_root` reads the root's attributes from the first
bytes with a regular expression, so only matching files are parsed in full.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

MAX_FREB_BYTES = 32 * 1024 * 1024
_ROOT = re.compile(rb"<failedRequest\s([^>]*)>", re.S)
_ATTR = re.compile(rb'([\w:]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_HEX = re.compile(r"\(0x([0-9A-Fa-f]{1,8})\)")


class FrebError(ValueError):
    """Not a usable FREB file (not XML, refused XML, no failedRequest root)."""


@dataclass(frozen=True)
class FrebErrorEvent:
    """One MODULE_SET_RESPONSE_ERROR_STATUS (or similar) event."""

    module: str
    notification: str
    status: str
    error_text: str
    error_code: int | None


@dataclass
class FrebTrace:
    url: str
    verb: str
    status: str
    auth_type: str
    failure_reason: str
    activity_id: str
    time: str
    headers: str = ""
    auth_types: list[str] = field(default_factory=list)
    errors: list[FrebErrorEvent] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The value of request header ``name`` from GENERAL_REQUEST_HEADERS, case-insensitive."""
        want = name.lower() + ":"
        for line in self.headers.splitlines():
            if line.lower().startswith(want):
                return line[len(want):].strip()
        return None


def _unescape_attr(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return (text.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">")
            .replace("&amp;", "&"))


def peek_root(head: bytes) -> dict[str, str] | None:
    """The ``failedRequest`` attributes found in the first bytes of a file, or ``None``."""
    m = _ROOT.search(head)
    if m is None:
        return None
    return {k.decode("ascii", "replace"): _unescape_attr(v1 or v2) for k, v1, v2 in _ATTR.findall(m.group(1))}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: Element, name: str) -> Element | None:
    for c in elem:
        if _local(c.tag) == name:
            return c
    return None


def _event_data(event: Element) -> dict[str, str]:
    data: dict[str, str] = {}
    ed = _child(event, "EventData")
    if ed is not None:
        for d in ed:
            if _local(d.tag) == "Data":
                data[d.get("Name", "")] = d.text or ""
    return data


def _rendering(event: Element) -> tuple[str, dict[str, str]]:
    ri = _child(event, "RenderingInfo")
    if ri is None:
        return "", {}
    op = _child(ri, "Opcode")
    desc = {d.get("Data", ""): d.text or "" for d in ri if _local(d.tag) == "Description"}
    return ((op.text or "") if op is not None else ""), desc


def _error_code(raw: str, rendered: str) -> int | None:
    m = _HEX.search(rendered) or _HEX.search(raw)
    if m:
        return int(m.group(1), 16)
    raw = raw.strip()
    if raw.lstrip("-").isdigit() and len(raw) <= 11:
        return int(raw) & 0xFFFFFFFF
    return None


def parse(data: bytes) -> FrebTrace:
    """A FREB trace from the file's bytes; :class:`FrebError` names what is wrong."""
    if len(data) > MAX_FREB_BYTES:
        raise FrebError(f"larger than {MAX_FREB_BYTES} bytes")
    try:
        root = SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise FrebError(f"refused XML ({type(exc).__name__}: entities or DTD)") from None
    except SafeET.ParseError as exc:
        raise FrebError(f"not well-formed XML: {exc}") from None
    if _local(root.tag) != "failedRequest":
        raise FrebError(f"root element is {_local(root.tag)!r}, not 'failedRequest'")
    a = root.attrib
    trace = FrebTrace(
        url=a.get("url", ""), verb=a.get("verb", ""), status=a.get("statusCode", ""),
        auth_type=a.get("authenticationType", ""), failure_reason=a.get("failureReason", ""),
        activity_id=a.get("activityId", ""), time="",
    )
    for event in root:
        if _local(event.tag) != "Event":
            continue
        if not trace.time:
            system = _child(event, "System")
            tc = _child(system, "TimeCreated") if system is not None else None
            if tc is not None:
                trace.time = tc.get("SystemTime", "")
        opcode, desc = _rendering(event)
        values = _event_data(event)
        if opcode == "GENERAL_REQUEST_HEADERS":
            trace.headers = values.get("Headers", "")
        elif opcode == "AUTH_REQUEST_AUTH_TYPE":
            trace.auth_types.append(desc.get("RequestAuthType") or values.get("RequestAuthType", ""))
        elif "ErrorCode" in values or "ErrorCode" in desc:
            rendered = desc.get("ErrorCode", "")
            raw = values.get("ErrorCode", "")
            trace.errors.append(FrebErrorEvent(
                module=values.get("ModuleName", ""), notification=desc.get("Notification") or values.get(
                    "Notification", ""),
                status=f"{values.get('HttpStatus', '')}.{values.get('HttpSubStatus', '')}".strip("."),
                error_text=rendered or raw, error_code=_error_code(raw, rendered),
            ))
    return trace
