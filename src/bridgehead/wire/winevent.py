"""Windows Event XML (``wevtutil qe /f:xml``, Event Viewer "Copy details as XML", the seeds' pastes).

Shape (DESIGN.md §5): ``Event/System`` (Provider@Name, EventID, Level, TimeCreated@SystemTime,
EventRecordID, Channel, Computer) and ``EventData/Data[@Name]`` (or ``UserData``). Input may
be one ``<Event>``, an ``<Events>`` wrapper, or several ``<Event>`` elements back to back (as
wevtutil prints them): the latter are wrapped in one root before parsing. The namespace
(``http://schemas.microsoft.com/win/2004/08/events/event``, or the seeds' ``https`` and empty
variants) is ignored. XML goes through defusedxml only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

MAX_EVENT_XML_BYTES = 64 * 1024 * 1024
_DECL = re.compile(rb"^\s*(\xef\xbb\xbf)?\s*<\?xml[^>]*\?>", re.S)


class EventXmlError(ValueError):
    """Not usable Event XML."""


@dataclass
class WinEvent:
    provider: str = ""
    event_id: str = ""
    level: str = ""
    time: str = ""
    record_id: str = ""
    channel: str = ""
    computer: str = ""
    data: list[tuple[str, str]] = field(default_factory=list)

    def text(self) -> str:
        """The event's data values joined, as an admin would paste them into ``explain``."""
        return "\n".join(v for _, v in self.data if v)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _event(elem: Element) -> WinEvent:
    ev = WinEvent()
    for part in elem:
        name = _local(part.tag)
        if name == "System":
            for s in part:
                sn = _local(s.tag)
                if sn == "Provider":
                    ev.provider = s.get("Name", "")
                elif sn == "EventID":
                    ev.event_id = (s.text or "").strip()
                elif sn == "TimeCreated":
                    ev.time = s.get("SystemTime", "")
                elif sn in ("Level", "Channel", "Computer"):
                    setattr(ev, sn.lower(), (s.text or "").strip())
                elif sn == "EventRecordID":
                    ev.record_id = (s.text or "").strip()
        elif name in ("EventData", "UserData"):
            for d in part.iter():
                if d is part:
                    continue
                text = (d.text or "").strip()
                if text:
                    ev.data.append((d.get("Name", _local(d.tag)), text))
        elif name == "RenderingInfo":
            for d in part:
                if _local(d.tag) == "Message" and d.text:
                    ev.data.append(("Message", d.text.strip()))
    return ev


def parse(data: bytes) -> list[WinEvent]:
    """All events in ``data``; :class:`EventXmlError` if it is not (safe, well-formed) Event XML."""
    if len(data) > MAX_EVENT_XML_BYTES:
        raise EventXmlError(f"larger than {MAX_EVENT_XML_BYTES} bytes")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        data = data.decode("utf-16").encode("utf-8")
        data = re.sub(rb'encoding="[^"]*"', b'encoding="utf-8"', data, count=1)
    body = _DECL.sub(b"", data, count=1)
    try:
        try:
            root = SafeET.fromstring(data)
        except SafeET.ParseError:
            root = SafeET.fromstring(b"<Events>" + body + b"</Events>")  # back-to-back <Event>s
    except DefusedXmlException as exc:
        raise EventXmlError(f"refused XML ({type(exc).__name__}: entities or DTD)") from None
    except SafeET.ParseError as exc:
        raise EventXmlError(f"not well-formed XML: {exc}") from None
    if _local(root.tag) == "Event":
        return [_event(root)]
    events = [_event(e) for e in root.iter() if _local(e.tag) == "Event"]
    if not events:
        raise EventXmlError(f"no <Event> element (root is {_local(root.tag)!r})")
    return events
