"""Configuration of the test backend (filled by ``bridgehead backend``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridgehead.core.ntlm.policy import EpFlags, EpPolicy, TokenChecking


@dataclass
class BackendConfig:
    host: str = "127.0.0.1"
    port: int = 8443
    cert: Path | None = None
    key: Path | None = None
    users: Path | None = None
    ep: TokenChecking = TokenChecking.NONE
    ep_flags: EpFlags = field(default_factory=EpFlags)
    spns: tuple[str, ...] = ()
    auth: tuple[str, ...] = ("negotiate", "ntlm")
    client_cert: str = "ignore"  # ignore | accept | require
    client_ca: Path | None = None
    w3c_log: Path | None = None
    freb_dir: Path | None = None
    keytab: Path | None = None
    realm: str | None = None  # Basic realm; also the OAuth realm for a bearer scheme
    state_dir: Path | None = None  # for schemes that keep state (bearer: trust store)
    site_name: str = "W3SVC1"
    ntlm_max_skew: float = 36 * 3600.0  # NTLMv2 TimeStamp vs our clock, seconds (MS-NLMP MaxLifetime; 0 = off)
    options: dict[str, Any] = field(default_factory=dict)  # free-form, for plug-in schemes

    @property
    def policy(self) -> EpPolicy:
        return EpPolicy(self.ep, self.ep_flags, self.spns)

    @property
    def basic_realm(self) -> str:
        return self.realm or self.host
