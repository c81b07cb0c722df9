"""Web chaining (TMG's model): which destinations go direct and which through a parent proxy.

``--parent http://HOST:PORT`` is the default route; ``[[chain]] destination = [...], via =
"http://[user@]HOST:PORT" | "direct"`` rules are tried first, in order, first match wins.

Pure decisions and bytes, no sockets:

* :func:`parse_via` — a parent URL (RFC 9110 §4.2.1 ``http`` URI, the authority only, RFC 3986
  §3.2). A password in the URL is refused: it would show in process lists and configuration
  dumps; it comes from a file or the environment (runtime) and is held in :class:`Parent`
  without ever being printed.
* :func:`connect_request` — ``CONNECT host:port`` in authority-form (RFC 9110 §9.3.6) with
  ``Proxy-Authorization: Basic`` (RFC 9110 §11.7.2, RFC 7617 §2) when the parent has a user.
* :func:`parse_status_line` / :func:`parent_refusal` — the parent's answer: any 2xx opens the
  tunnel (RFC 9110 §9.3.6); 407, 403 and the gateway errors get their own registry codes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bridgehead.core.forward_policy import DestinationRule, PolicyError

__all__ = ["ChainPolicy", "ChainRule", "Parent", "connect_request", "parent_refusal", "parse_status_line",
           "parse_via"]

_HOST = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")
_USER = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=%-]+")  # RFC 3986 §3.2.1 userinfo, without ':'


@dataclass(frozen=True)
class Parent:
    """A parent proxy. ``password`` is never shown (``repr``/``str`` leave it out)."""

    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{self.user + '@' if self.user else ''}{host}:{self.port}"

    def authorization(self) -> bytes | None:
        """``Proxy-Authorization`` value for the parent (RFC 7617 §2), or ``None`` without a user."""
        if self.user is None:
            return None
        pair = f"{self.user}:{self.password or ''}".encode()
        return b"Basic " + base64.b64encode(pair)


def parse_via(text: str) -> Parent | None:
    """``"direct"`` → ``None``; ``"http://[user@]HOST:PORT"`` → :class:`Parent`; ``ValueError`` otherwise."""
    value = text.strip()
    if value.lower() == "direct":
        return None
    if not value.lower().startswith("http://"):
        raise ValueError(f"via must be \"direct\" or http://HOST:PORT, not {text!r}")
    authority = value[7:].rstrip("/")
    if "/" in authority or "?" in authority or "#" in authority:
        raise ValueError(f"{text!r}: a parent proxy is http://HOST:PORT, without a path")
    user = None
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        if ":" in userinfo:
            raise ValueError("the parent proxy's password does not go in the URL (it would show in process "
                             "lists and logs): use password_file / --parent-password-file or "
                             "BRIDGEHEAD_PARENT_PASSWORD")
        if not _USER.fullmatch(userinfo):
            raise ValueError(f"invalid user name in the parent proxy URL {text!r}")
        user = userinfo
    host, sep, port_text = authority.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536 or not _HOST.fullmatch(host):
        raise ValueError(f"{text!r}: a parent proxy needs http://HOST:PORT with a port from 1 to 65535")
    return Parent(host.strip("[]").lower(), int(port_text), user)


@dataclass(frozen=True)
class ChainRule:
    """``[[chain]]``: destinations and where they go (``via`` ``None`` = direct)."""

    name: str
    destinations: tuple[DestinationRule, ...]
    via: Parent | None

    @classmethod
    def parse(cls, name: str, destinations: Sequence[str], via: str) -> ChainRule:
        try:
            rules = tuple(DestinationRule.parse(d) for d in destinations)
        except PolicyError as exc:
            raise ValueError(str(exc)) from None
        return cls(name, rules, parse_via(via))


@dataclass(frozen=True)
class ChainPolicy:
    """Rules first (first match wins), then the default parent, else direct."""

    rules: tuple[ChainRule, ...] = ()
    parent: Parent | None = None

    def route(self, host: str, port: int) -> Parent | None:
        for rule in self.rules:
            if any(d.matches(host, port) for d in rule.destinations):
                return rule.via
        return self.parent

    def rule_name(self, host: str, port: int) -> str:
        for rule in self.rules:
            if any(d.matches(host, port) for d in rule.destinations):
                return rule.name
        return "parent" if self.parent else "direct"

    def parents(self) -> list[Parent]:
        out = [r.via for r in self.rules if r.via is not None]
        return out + ([self.parent] if self.parent else [])


def connect_request(host: str, port: int, parent: Parent) -> bytes:
    """The CONNECT request to the parent (RFC 9110 §9.3.6: authority-form target and Host)."""
    target = (f"[{host}]" if ":" in host else host) + f":{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    auth = parent.authorization()
    head = "\r\n".join(lines).encode("ascii") + b"\r\n"
    if auth is not None:
        head += b"Proxy-Authorization: " + auth + b"\r\n"
    return head + b"\r\n"


def parse_status_line(head: bytes) -> int:
    """The status code of a response head (RFC 9112 §4); ``ValueError`` if it is not HTTP/1.x."""
    line = head.split(b"\r\n", 1)[0]
    m = re.fullmatch(rb"HTTP/1\.[01] ([1-5][0-9]{2})(?: .*)?", line)
    if m is None:
        raise ValueError(f"not an HTTP/1.1 status line: {line[:60]!r}")
    return int(m.group(1))


def parent_refusal(status: int, parent: Parent, target: str, squid_error: str | None = None
                   ) -> tuple[str, str] | None:
    """``None`` for a 2xx answer to CONNECT, else the registry code and a description."""
    if 200 <= status < 300:
        return None
    where = f"parent proxy {parent}"
    extra = f" ({squid_error})" if squid_error else ""
    if status == 407:
        how = "the credentials configured for it were refused" if parent.user else "no credentials are configured"
        return "parent-proxy-auth-required", f"{where} answered 407 for {target}: {how}{extra}"
    if status == 403:
        return "parent-proxy-denied", f"{where} denied {target} (403){extra}"
    return "parent-proxy-bad-gateway", f"{where} answered {status} for {target}{extra}"
