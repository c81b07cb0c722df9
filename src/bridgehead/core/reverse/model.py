"""Configuration objects of the reverse proxy: listeners, routes and the identity they produce.

These are plain, typed data: the runtime config loader (``bridgehead.runtime.reverse.config``)
builds them from TOML, the server reads them, the lint judges them. Paths are already
absolute (resolved against the configuration file) when they arrive here.

The identity-delegation seam: each :class:`Route` names ``identity`` (``none`` | ``kerberos`` |
``basic-passthrough`` | ``header``) and may carry a ``kerberos`` table that is kept as a
plain dict for the delegator registered under that name
(``bridgehead.runtime.reverse.delegation.DELEGATORS``). Nothing here interprets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Mode(StrEnum):
    PASSTHROUGH = "passthrough"  # layer 4 by SNI, no termination
    REENCRYPT = "reencrypt"  # terminate, TLS again to the backend
    OFFLOAD = "offload"  # terminate, plain HTTP to the backend


class ClientCert(StrEnum):
    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"


class Fallback(StrEnum):
    NONE = "none"
    BASIC = "basic"


class FailMode(StrEnum):
    CLOSED = "closed"
    OPEN = "open"


IDENTITY_KINDS = ("none", "kerberos", "basic-passthrough", "header")


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class RevocationSettings:
    """Revocation of client certificates (RFC 5280 §5 CRLs, RFC 6960 OCSP).

    ``crl`` entries are file paths or http(s) URLs. ``ocsp`` is off (``None``), ``"aia"``
    (the responder named in each certificate) or an explicit responder URL. ``max_age`` is
    the freshness bound in seconds: cached data older than that is fetched again, so a
    revocation bites within ``max_age`` seconds; ``None`` means "as long as the CA says"
    (nextUpdate), which lint flags.
    """

    crl: tuple[str, ...] = ()
    ocsp: str | None = None
    max_age: float | None = None
    fail: FailMode = FailMode.CLOSED
    timeout: float = 5.0

    @property
    def enabled(self) -> bool:
        return bool(self.crl) or self.ocsp is not None


@dataclass(frozen=True)
class Restrictions:
    """What a trusted client certificate must also satisfy (TMG: listener restrictions)."""

    eku_client_auth: bool = True  # RFC 5280 §4.2.1.12 id-kp-clientAuth, if an EKU is present
    issuers: tuple[str, ...] = ()  # RFC 4514 strings of allowed issuing CAs; empty = any in the trust list
    subject_patterns: tuple[str, ...] = ()  # regexes over the RFC 4514 subject; one must match
    san_patterns: tuple[str, ...] = ()  # regexes over SAN values (email, UPN, DNS); one must match


@dataclass(frozen=True)
class IdentityRule:
    """A regex mapping: ``source`` (upn|email|cn|subject) matched by ``pattern``; ``user`` is a
    template using the groups (``{0}`` whole match, ``{1}``…, ``{name}`` named groups)."""

    source: str
    pattern: str
    user: str


@dataclass(frozen=True)
class Listener:
    name: str
    host: str
    port: int
    certificates: tuple[CertPair, ...]
    client_ca: tuple[Path, ...] = ()
    revocation: RevocationSettings = field(default_factory=RevocationSettings)
    restrictions: Restrictions = field(default_factory=Restrictions)
    identity_from: tuple[str, ...] = ("upn", "email", "cn")
    identity_rules: tuple[IdentityRule, ...] = ()
    basic_users: Path | None = None  # DOMAIN:user:password file for the Basic fallback
    basic_realm: str = ""


@dataclass(frozen=True)
class Backend:
    scheme: str  # https | http
    host: str  # name for SNI, verification and the SPN
    port: int
    address: tuple[str, int] | None = None  # pinned address (TMG: "IP address" of the publishing rule)

    @property
    def connect_to(self) -> tuple[str, int]:
        return self.address or (self.host, self.port)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class Route:
    name: str
    listener: str
    hosts: tuple[str, ...]
    paths: tuple[str, ...]  # prefixes; () = all paths
    mode: Mode
    backend: Backend
    backend_ca: tuple[Path, ...] = ()
    client_certificate: ClientCert = ClientCert.OFF
    fallback: Fallback = Fallback.NONE
    bridging_certificate: CertPair | None = None
    preserve_host: bool = True
    identity: str = "none"  # none | kerberos | basic-passthrough | header
    identity_header: str = "X-Bridgehead-User"
    kerberos: dict[str, Any] = field(default_factory=dict)  # the delegator's own table, not read here
    # What the operator declares about the backend (lint uses these; --probe measures them)
    backend_extended_protection: str = "unknown"  # none | allow | require | unknown
    backend_client_certificate: str = "unknown"  # ignore | accept | require | unknown


@dataclass(frozen=True)
class ReverseConfig:
    source: Path
    state_dir: Path
    listeners: tuple[Listener, ...]
    routes: tuple[Route, ...]
    access_log: Path | None = None
    read_timeout: float = 60.0
    # slow-client defences (see runtime.streams.Deadlines) and connection limits (0 = no limit)
    head_timeout: float = 30.0
    idle_timeout: float = 60.0
    body_min_rate: float = 1024.0
    max_connections: int = 4096
    max_connections_per_source: int = 256

    def listener(self, name: str) -> Listener:
        for item in self.listeners:
            if item.name == name:
                return item
        raise KeyError(name)

    def routes_of(self, listener: str) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.listener == listener)


@dataclass(frozen=True)
class Identity:
    """Who the request is for: the mapped certificate user or the Basic fallback user.

    ``user`` is what delegation uses (a UPN such as ``alice@EXAMPLE.TEST`` or ``DOMAIN\\user``);
    ``source`` says where it came from (``certificate`` | ``basic`` | ``anonymous``); the
    certificate fields are for logs (never the certificate itself).
    """

    user: str | None
    source: str = "anonymous"
    mapped_by: str | None = None  # upn | email | cn | rule:<n> | basic
    subject: str | None = None
    issuer: str | None = None
    serial: str | None = None  # hex

    def log_fields(self) -> dict[str, Any]:
        return {"identity": self.user, "identity_source": self.source, "cert_subject": self.subject,
                "cert_issuer": self.issuer, "cert_serial": self.serial}


ANONYMOUS = Identity(None)
