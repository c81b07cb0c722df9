"""Error responses that name the cause and the fix, built from the failure registry.

A proxy-generated error is a complete HTTP/1.1 response: an HTML page for people, the
registry code in ``X-Bridgehead-Code`` and the TMG status in ``X-Bridgehead-TMG-Status``
for scripts (:data:`CODE_HEADER` is the one header name for the code on every page
bridgehead serves, its backend's 401s included), and (like TMG) the title in the reason
phrase so a client that shows only the status line — DirSync's "(502) Proxy Error ( … )" — still shows the cause.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from bridgehead.failures import get

CODE_HEADER = "X-Bridgehead-Code"
TMG_HEADER = "X-Bridgehead-TMG-Status"

_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            431: "Request Header Fields Too Large", 502: "Proxy Error", 504: "Gateway Timeout"}


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2 token (a field name)


def basic_challenge(realm: str) -> str:
    """``Basic realm="…", charset="UTF-8"`` (RFC 7617 §2, §2.1), the realm a quoted-string with
    ``"`` and ``\\`` escaped (RFC 9110 §5.6.4)."""
    quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
    return f'Basic realm="{quoted}", charset="UTF-8"'


def _field_lines(headers: Iterable[tuple[str, str]]) -> str:
    lines = []
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"not a header field name: {name!r}")
        if any(c in value for c in "\r\n\0"):  # RFC 9110 §5.5: no CR, LF or NUL in a field value
            raise ValueError(f"header {name} value holds CR, LF or NUL")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)


def render(code: str, *, detail: str = "", host: str = "", status: int | None = None,
           headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """The full response bytes (head and body) for the failure ``code``; ``headers`` are added
    to the head (e.g. a ``WWW-Authenticate`` challenge), checked for CR/LF injection."""
    extra = _field_lines(headers)
    failure = get(code)
    status = status or failure.status
    tmg = f" (TMG {failure.tmg})" if failure.tmg else ""
    body = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
        f"{status} {html.escape(failure.title)}</title></head><body>\n"
        f"<h1>{status} {html.escape(_REASONS.get(status, 'Error'))}</h1>\n"
        f"<p><strong>{html.escape(failure.title)}</strong>{html.escape(tmg)}</p>\n"
        + (f"<p>Destination: <code>{html.escape(host)}</code></p>\n" if host else "")
        + f"<h2>Cause</h2><p>{html.escape(failure.cause)}</p>\n"
        + (f"<p>Detail: <code>{html.escape(detail)}</code></p>\n" if detail else "")
        + f"<h2>Fix</h2><p>{html.escape(failure.fix)}</p>\n"
        f"<p>Code: <code>{html.escape(failure.code)}</code> — run "
        f"<code>bridgehead explain {html.escape(failure.code)}</code> for more.</p>\n"
        "</body></html>\n"
    ).encode()
    reason = f"{_REASONS.get(status, 'Error')} ( {failure.title}. )"
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        + extra
        + "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{CODE_HEADER}: {failure.code}\r\n"
        + (f"{TMG_HEADER}: {failure.tmg}\r\n" if failure.tmg else "")
        + "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1", "replace") + body
