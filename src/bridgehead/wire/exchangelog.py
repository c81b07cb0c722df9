"""Exchange HttpProxy logs: the CSV the Client Access front end writes per proxied request.

Files: ``%ExchangeInstallPath%Logging\\HttpProxy\\<Protocol>\\HttpProxy_YYYYMMDDHH-N.LOG``.
Header lines start with ``#`` (``#Software: Microsoft Exchange Server``, ``#Version``,
``#Log-type: HttpProxy Logs``, ``#Date``, ``#Fields: DateTime,RequestId,MajorVersion,…``); each
record is one CSV row (RFC 4180 quoting: a value holding a comma or quote is quoted, quotes
doubled) in the order of ``#Fields``. The fields bridgehead reads: ``DateTime`` (ISO 8601 UTC),
``Protocol``, ``UrlHost``, ``UrlStem``, ``AuthenticationType``, ``AuthenticatedUser``,
``ClientIpAddress``, ``HttpStatus`` (what the client got), ``BackEndStatus`` (what the mailbox
server answered; empty when it was not reached), ``ErrorCode``, ``TargetServer``,
``GenericErrors`` (exception texts). Field names are matched case-insensitively (older builds
write ``BackendStatus``). Pure parsing: the csv module, no I/O.
"""

from __future__ import annotations

import csv
import re

FIELDS_PREFIX = "#Fields:"
_SNIFF = re.compile(r"^#Fields:\s*DateTime,RequestId,[^\r\n]*\bHttpStatus\b", re.M | re.I)
WANTED = ("datetime", "protocol", "urlhost", "urlstem", "authenticationtype", "authenticateduser",
          "clientipaddress", "httpstatus", "backendstatus", "errorcode", "targetserver", "genericerrors")


def looks_like(head: str) -> bool:
    """True for an HttpProxy log: its ``#Log-type`` or its ``#Fields`` line near the start."""
    return "#Log-type: HttpProxy" in head or _SNIFF.search(head) is not None


def parse_fields(line: str) -> dict[str, int]:
    """Column of each wanted field (lower-case name) declared by a ``#Fields:`` line."""
    names = next(csv.reader([line[len(FIELDS_PREFIX):].strip()]), [])
    lowered = [n.strip().lower() for n in names]
    return {name: lowered.index(name) for name in WANTED if name in lowered}
