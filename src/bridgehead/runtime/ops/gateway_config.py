"""The gateway file of ``bridgehead serve``: forward, reverse and admin settings in one TOML.

    store = "postgresql+psycopg://bridgehead@db/bridgehead"   # optional; SQLite under state_dir
    state_dir = "/var/lib/bridgehead"
    drain_timeout = "30s"                  # SIGTERM: in-flight requests get this long
    workers = "auto"                       # worker processes (1-64 or auto; read at start, --workers wins)
    log_file = "/var/log/bridgehead/bridgehead.log"   # optional; reopened on SIGUSR1/SIGHUP

    [forward]                              # the settings of `bridgehead forward --config`
    listen = "127.0.0.1:8080"
    access_log = "/var/log/bridgehead/forward-access.log"
    exception_destination = ["*.microsoftonline.com"]
    ca_key_passphrase_file = "ca.pass"     # arrays: the passphrase of the CA key kept in the store

    [[listener]]                           # the reverse proxy's listeners and routes, as in docs/reverse.md
    ...
    [[route]]
    ...

    [admin]
    listen = "127.0.0.1:9090"              # /metrics, /healthz and the console; loopback by default
    password_hash = "scrypt$…"             # `bridgehead config hash-password`
    tls_cert = "admin.pem"                 # optional: the console over HTTPS (tls_key with it)
    tls_key = "admin.key"
    client_ca = "admins-ca.pem"            # optional: certificates it issued sign in without a password
    client_crl = ["admins-ca.crl"]         # optional: its CRLs, read at each connection (fail closed)

Relative paths resolve against the file's directory (for a version from the store: the
directory it was applied from, so members share one layout such as /etc/bridgehead).
:func:`parse` validates everything, including the reverse proxy's ``lint`` rules: a
finding of severity ``error`` refuses the file. ``bind`` (an array member's ``--bind``)
replaces the host part of every listen address.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridgehead.core.reverse.lint import Finding, exit_status, lint
from bridgehead.core.reverse.model import ReverseConfig
from bridgehead.runtime.forward.config import ConfigError, build, parse_duration, parse_listen, resolve_paths
from bridgehead.runtime.forward.server import ForwardSettings
from bridgehead.runtime.reverse.preflight import preflight
from bridgehead.runtime.store import shown_url

__all__ = ["AdminSettings", "ConfigError", "GatewayConfig", "parse", "parse_text"]

_TOP = {"store", "state_dir", "drain_timeout", "log_file", "forward", "admin", "access_log", "read_timeout", "workers",
        "rule", "chain", "ocsp",
        "listener", "route"}
_ADMIN = {"listen", "password_hash", "session_ttl", "client_ca", "client_crl", "tls_cert", "tls_key"}


@dataclass
class AdminSettings:
    host: str = "127.0.0.1"
    port: int = 9090
    password_hash: str | None = None
    session_ttl: float = 8 * 3600.0
    client_ca: Path | None = None  # admins' CA: a certificate it issued signs in without a password
    tls_cert: Path | None = None  # the admin listener speaks HTTPS with this certificate (chain) and key
    tls_key: Path | None = None
    client_crl: tuple[Path, ...] = ()  # CRL files of client_ca, read at each connection (fail closed)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


@dataclass
class GatewayConfig:
    source: Path
    text: str
    state_dir: Path
    store: str | None
    drain_timeout: float
    log_file: Path | None
    admin: AdminSettings
    forward: ForwardSettings | None = None
    reverse: ReverseConfig | None = None
    findings: list[Finding] = field(default_factory=list)
    workers: int = 1  # serve's worker processes (the file's `workers`; fixed at start)
    ca_key_passphrase_file: Path | None = None  # [forward]: an array's CA key passphrase (runtime/forward/array_ca.py)


def parse_text(text: str, source: Path, *, state_dir: Path | None = None, bind: str | None = None,
               store: str | None = None, check_files: bool = True) -> GatewayConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    return parse(data, text, source, state_dir=state_dir, bind=bind, store=store, check_files=check_files)


def parse(data: dict[str, Any], text: str, source: Path, *, state_dir: Path | None = None, bind: str | None = None,
          store: str | None = None, check_files: bool = True) -> GatewayConfig:
    base = source.parent
    extra = set(data) - _TOP
    if extra:
        raise ConfigError(f"top level: unknown setting(s) {', '.join(sorted(extra))}")
    state = state_dir or (base / str(data.get("state_dir", "state")))
    store_url = store or (str(data["store"]) if "store" in data else None)
    if store_url is not None and not store_url.startswith(("sqlite:", "postgresql")):
        raise ConfigError(f"store must be sqlite:///PATH or postgresql+psycopg://…, not {shown_url(store_url)!r}")
    cfg = GatewayConfig(
        source=source, text=text, state_dir=state, store=store_url,
        drain_timeout=parse_duration(data.get("drain_timeout", "30s")),
        log_file=(base / str(data["log_file"])) if data.get("log_file") else None,
        admin=_admin(data.get("admin", {}), base, bind, check_files),
    )
    cfg.workers = workers_of(data.get("workers", 1))
    if "forward" in data:
        rules: dict[str, Any] = {k: data[k] for k in ("rule", "chain") if k in data}  # [[rule]]/[[chain]] on top
        if "ocsp" in data:  # [[ocsp]] at the top level, beside [forward] ocsp = "open" | "closed" | "off"
            rules["ocsp_tables"] = data["ocsp"]
        if isinstance(data["forward"], dict) and "ca_key_passphrase_file" in data["forward"]:
            forward = dict(data["forward"])
            cfg.ca_key_passphrase_file = base / str(forward.pop("ca_key_passphrase_file"))
            data = {**data, "forward": forward}
        cfg.forward = _forward({**data["forward"], **rules} if isinstance(data["forward"], dict) else data["forward"],
                               base, state, store_url, bind)
    if "listener" in data or "route" in data:
        cfg.reverse = _reverse(data, source, state, bind, check_files)
        # what would stop the listeners from starting (key/certificate pairs, keytab, gssapi), then the rules
        cfg.findings = (preflight(cfg.reverse, build=False) if check_files else []) + lint(cfg.reverse)
        if exit_status(cfg.findings):
            errors = [f for f in cfg.findings if f.severity == "error"]
            raise ConfigError("lint: " + "; ".join(f"{f.code} ({f.subject}): {f.message}" for f in errors))
    if cfg.forward is None and cfg.reverse is None:
        raise ConfigError("nothing to serve: add a [forward] section and/or [[listener]]/[[route]] tables")
    _distinct_addresses(cfg)
    return cfg


def workers_of(value: Any) -> int:
    """``workers = N`` (1 to 64) or ``"auto"`` (the CPU cores this process may run on)."""
    import os

    if isinstance(value, str) and value.strip().lower() == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise ConfigError(f'workers must be 1 to 64 or "auto", not {value!r}')
    return value


def _host(address: str, bind: str | None) -> str:
    if bind is None:
        return address
    _host_part, port = parse_listen(address)
    return f"[{bind}]:{port}" if ":" in bind else f"{bind}:{port}"


def _admin(value: Any, base: Path, bind: str | None, check_files: bool = True) -> AdminSettings:
    if not isinstance(value, dict):
        raise ConfigError("admin must be a table ([admin])")
    extra = set(value) - _ADMIN
    if extra:
        raise ConfigError(f"admin: unknown setting(s) {', '.join(sorted(extra))}")
    host, port = parse_listen(_host(str(value.get("listen", "127.0.0.1:9090")), bind))
    password_hash = value.get("password_hash")
    if password_hash is not None and not (isinstance(password_hash, str) and password_hash.startswith("scrypt$")):
        raise ConfigError("admin.password_hash must come from 'bridgehead config hash-password' (scrypt$…)")
    client_ca, tls_cert, tls_key = (base / str(value[k]) if value.get(k) else None
                                    for k in ("client_ca", "tls_cert", "tls_key"))
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("admin: tls_cert and tls_key go together (the admin listener's certificate and key)")
    if client_ca is not None and tls_cert is None:
        raise ConfigError("admin: client_ca needs tls_cert and tls_key (client certificates need HTTPS)")
    crl_value = value.get("client_crl", [])
    crl_list = [crl_value] if isinstance(crl_value, str) else crl_value
    if not isinstance(crl_list, list) or not all(isinstance(c, str) and c for c in crl_list):
        raise ConfigError("admin.client_crl must be a CRL file or a list of CRL files")
    client_crl = tuple(base / c for c in crl_list)
    if client_crl and client_ca is None:
        raise ConfigError("admin: client_crl needs client_ca (the CRLs of the admins' CA)")
    if check_files and tls_cert is not None and tls_key is not None:
        from bridgehead.runtime.ops.console_tls import check_files as check_tls_files

        check_tls_files(tls_cert, tls_key, client_ca, client_crl)
    return AdminSettings(host=host, port=port, password_hash=password_hash,
                         session_ttl=parse_duration(value.get("session_ttl", "8h")), client_ca=client_ca,
                         tls_cert=tls_cert, tls_key=tls_key, client_crl=client_crl)


def _forward(value: Any, base: Path, state: Path, store_url: str | None, bind: str | None) -> ForwardSettings:
    if not isinstance(value, dict):
        raise ConfigError("forward must be a table ([forward])")
    data = dict(value)
    if "state_dir" in data:
        raise ConfigError("forward: state_dir is set once, at the top level")
    data["state_dir"] = str(state)
    data["access_log"] = str(base / data["access_log"]) if data.get("access_log") else str(state / "access.log")
    for key in ("upstream_ca", "upstream_crl"):
        if key in data and not isinstance(data[key], str | list):
            raise ConfigError(f"forward: {key} must be a string or a list of strings")
    if not isinstance(data.get("client_cert_rule", []), list):
        raise ConfigError("forward: client_cert_rule must be an array of tables")
    try:
        resolve_paths(data, base)  # state_dir and access_log are absolute already: they stay as they are
    except ConfigError as exc:
        raise ConfigError(f"forward: {exc}") from None
    if "listen" in data or bind:
        data["listen"] = _host(str(data.get("listen", "127.0.0.1:8080")), bind)
    if store_url is not None:
        data["store_url"] = store_url
    try:
        return build(data)
    except ConfigError as exc:
        raise ConfigError(f"forward: {exc}") from None


def _reverse(data: dict[str, Any], source: Path, state: Path, bind: str | None, check: bool) -> ReverseConfig:
    from bridgehead.runtime.reverse.config import parse as parse_reverse

    part = {k: v for k, v in data.items() if k in ("access_log", "read_timeout", "listener", "route")}
    config = parse_reverse(part, source, check_files=check)
    access_log = config.access_log if "access_log" in part else state / "reverse-access.log"
    listeners = config.listeners
    if bind is not None:
        listeners = tuple(dataclasses.replace(x, host=bind) for x in listeners)
    return dataclasses.replace(config, state_dir=state, access_log=access_log, listeners=listeners)


def _distinct_addresses(cfg: GatewayConfig) -> None:
    seen: dict[tuple[str, int], str] = {}
    pairs = [((cfg.admin.host, cfg.admin.port), "admin")]
    if cfg.forward is not None:
        pairs.append(((cfg.forward.host, cfg.forward.port), "forward"))
    for x in cfg.reverse.listeners if cfg.reverse else ():
        pairs.append(((x.host, x.port), f"listener {x.name}"))
    for addr, name in pairs:
        if addr[1] != 0 and addr in seen:
            raise ConfigError(f"{name} and {seen[addr]} both listen on {addr[0]}:{addr[1]}")
        seen[addr] = name
