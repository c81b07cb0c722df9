"""Reverse-proxy configuration from TOML (``bridgehead reverse --config FILE``).

The shape (names are stable; relative paths are relative to the file)::

    state_dir = "state"
    access_log = "access.log"              # optional; default <state_dir>/reverse-access.log

    [[listener]]
    name = "edge"
    listen = "127.0.0.1:8443"
    certificates = [{ cert = "edge.pem", key = "edge.key" }]   # chosen by SNI
    client_ca = ["company-ca.pem"]                              # trust list for client certificates
    revocation = { crl = ["company-ca.crl"], ocsp = false, max_age = "60s", fail = "closed" }
    restrictions = { eku_client_auth = true, issuers = [], subject_patterns = [], san_patterns = [] }
    identity_from = ["upn", "email", "cn"]
    identity_rule = [{ source = "subject", pattern = "CN=([^,]+)", user = "{1}@corp.example" }]
    basic_users = "users.txt"             # DOMAIN:user:password, for fallback = "basic"

    [[route]]
    name = "ews"
    listener = "edge"
    hosts = ["mail.example.test"]
    paths = ["/EWS/", "/Microsoft-Server-ActiveSync"]
    mode = "reencrypt"                     # passthrough | reencrypt | offload
    backend = "https://ex01.internal.test:443"
    backend_address = "127.0.0.1:9443"
    backend_ca = "internal-ca.pem"
    client_certificate = "required"        # off | optional | required
    fallback = "none"                      # none | basic
    bridging_certificate = { cert = "proxy-client.pem", key = "proxy-client.key" }
    preserve_host = true
    identity = "none"                      # none | kerberos | basic-passthrough | header
    backend_extended_protection = "allow"  # what you know about the backend (lint); --probe measures it
    [route.kerberos]                       # kept as a plain table for the kerberos delegator

Every mistake is a :class:`ConfigError` with one line naming the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bridgehead.core.reverse.model import (
    IDENTITY_KINDS,
    Backend,
    CertPair,
    ClientCert,
    FailMode,
    Fallback,
    IdentityRule,
    Listener,
    Mode,
    Restrictions,
    ReverseConfig,
    RevocationSettings,
    Route,
)
from bridgehead.runtime.forward.config import LIMIT_KEYS, ConfigError, parse_duration, parse_limits, parse_listen

__all__ = ["ConfigError", "load", "parse"]

_TOP = {"state_dir", "access_log", "read_timeout", "listener", "route", *LIMIT_KEYS}
_LISTENER = {"name", "listen", "certificates", "client_ca", "revocation", "restrictions", "identity_from",
             "identity_rule", "basic_users", "basic_realm"}
_ROUTE = {"name", "listener", "hosts", "paths", "mode", "backend", "backend_address", "backend_ca",
          "client_certificate", "fallback", "bridging_certificate", "preserve_host", "identity", "identity_header",
          "kerberos", "backend_extended_protection", "backend_client_certificate"}


def load(path: Path, *, check_files: bool = True) -> ReverseConfig:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:  # toml.io: "A TOML file must be a valid UTF-8 encoded Unicode document"
        raise ConfigError(f"{path}: not a TOML file: not valid UTF-8 at byte {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse(data, path.resolve(), check_files=check_files)


def parse(data: dict[str, Any], source: Path, *, check_files: bool = True) -> ReverseConfig:
    base = source.parent
    _unknown(data, _TOP, "top level")
    listeners = [_listener(item, base, check_files, i) for i, item in enumerate(_tables(data, "listener"), 1)]
    if not listeners:
        raise ConfigError("at least one [[listener]] is needed")
    names = [x.name for x in listeners]
    if len(set(names)) != len(names):
        raise ConfigError("listener names must be unique")
    routes = [_route(item, base, check_files, i, names) for i, item in enumerate(_tables(data, "route"), 1)]
    if len({r.name for r in routes}) != len(routes):
        raise ConfigError("route names must be unique")
    for listener in listeners:
        if any(r.fallback == Fallback.BASIC for r in routes if r.listener == listener.name) \
                and listener.basic_users is None:
            raise ConfigError(f"listener {listener.name!r}: a route falls back to Basic, set basic_users")
    state_dir = base / str(data.get("state_dir", "state"))
    access_log = base / str(data["access_log"]) if "access_log" in data else state_dir / "reverse-access.log"
    limits = parse_limits(data, lambda key, message: ConfigError(f"{source}: {key}: {message}"))
    return ReverseConfig(source=source, state_dir=state_dir, listeners=tuple(listeners), routes=tuple(routes),
                         access_log=access_log, read_timeout=parse_duration(data.get("read_timeout", "60s")),
                         head_timeout=limits["head_timeout"], idle_timeout=limits["idle_timeout"],
                         body_min_rate=limits["body_min_rate"], max_connections=int(limits["max_connections"]),
                         max_connections_per_source=int(limits["max_connections_per_source"]))


def _tables(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{key} must be an array of tables ([[{key}]])")
    return value


def _unknown(table: dict[str, Any], known: set[str], where: str) -> None:
    extra = set(table) - known
    if extra:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(extra))}")


def _strings(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{key} must be a string or a list of strings")


def _file(base: Path, value: Any, key: str, check: bool) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a file name")
    path = (base / value).resolve()
    if check and not path.is_file():
        raise ConfigError(f"{key}: file not found: {path}")
    return path


def _pair(base: Path, value: Any, key: str, check: bool) -> CertPair:
    if not isinstance(value, dict) or set(value) != {"cert", "key"}:
        raise ConfigError(f"{key} must be {{ cert = \"...\", key = \"...\" }}")
    return CertPair(_file(base, value["cert"], f"{key}.cert", check), _file(base, value["key"], f"{key}.key", check))


def _choice(value: Any, enum: Any, key: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = " | ".join(e.value for e in enum)
        raise ConfigError(f"{key} must be {allowed}, not {value!r}") from None


def _listener(item: dict[str, Any], base: Path, check: bool, number: int) -> Listener:
    name = str(item.get("name", f"listener{number}"))
    where = f"listener {name!r}"
    _unknown(item, _LISTENER, where)
    if "listen" not in item:
        raise ConfigError(f"{where}: listen = \"HOST:PORT\" is required")
    host, port = parse_listen(str(item["listen"]))
    certs = item.get("certificates")
    if not isinstance(certs, list) or not certs:
        raise ConfigError(f"{where}: certificates = [{{ cert = ..., key = ... }}] is required (HTTPS only)")
    pairs = tuple(_pair(base, c, f"{where} certificates", check) for c in certs)
    client_ca = tuple(_file(base, p, f"{where} client_ca", check)
                      for p in _strings(item.get("client_ca", []), "client_ca"))
    rules = []
    for rule in item.get("identity_rule", []):
        if not isinstance(rule, dict) or set(rule) != {"source", "pattern", "user"}:
            raise ConfigError(f"{where}: identity_rule entries need source, pattern and user")
        _regex(rule["pattern"], f"{where} identity_rule")
        rules.append(IdentityRule(str(rule["source"]), str(rule["pattern"]), str(rule["user"])))
    order = tuple(_strings(item.get("identity_from", ["upn", "email", "cn"]), "identity_from"))
    for source in (*order, *(r.source for r in rules)):
        if source not in ("upn", "email", "cn", "subject"):
            raise ConfigError(f"{where}: identity source must be upn, email, cn or subject, not {source!r}")
    users = _file(base, item["basic_users"], f"{where} basic_users", check) if "basic_users" in item else None
    return Listener(name=name, host=host, port=port, certificates=pairs, client_ca=client_ca,
                    revocation=_revocation(item.get("revocation", {}), base, where),
                    restrictions=_restrictions(item.get("restrictions", {}), where), identity_from=order,
                    identity_rules=tuple(rules), basic_users=users, basic_realm=str(item.get("basic_realm", "")))


def _regex(pattern: Any, where: str) -> None:
    import re

    try:
        re.compile(str(pattern))
    except re.error as exc:
        raise ConfigError(f"{where}: invalid regex {pattern!r}: {exc}") from None


def _revocation(value: Any, base: Path, where: str) -> RevocationSettings:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: revocation must be a table")
    _unknown(value, {"crl", "ocsp", "max_age", "fail", "timeout"}, f"{where} revocation")
    crls = []
    for entry in _strings(value.get("crl", []), "revocation.crl"):
        crls.append(entry if entry.startswith(("http://", "https://")) else str((base / entry).resolve()))
    ocsp_value = value.get("ocsp", False)
    if ocsp_value is True:
        ocsp: str | None = "aia"
    elif ocsp_value is False:
        ocsp = None
    elif isinstance(ocsp_value, str) and ocsp_value.startswith(("http://", "https://")):
        ocsp = ocsp_value
    else:
        raise ConfigError(f"{where}: revocation.ocsp must be true, false or a responder URL")
    max_age = parse_duration(value["max_age"]) if "max_age" in value else None
    return RevocationSettings(crl=tuple(crls), ocsp=ocsp, max_age=max_age,
                              fail=_choice(value.get("fail", "closed"), FailMode, f"{where} revocation.fail"),
                              timeout=parse_duration(value.get("timeout", "5s")))


def _restrictions(value: Any, where: str) -> Restrictions:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: restrictions must be a table")
    _unknown(value, {"eku_client_auth", "issuers", "subject_patterns", "san_patterns"}, f"{where} restrictions")
    for pattern in [*_strings(value.get("subject_patterns", []), "subject_patterns"),
                    *_strings(value.get("san_patterns", []), "san_patterns")]:
        _regex(pattern, f"{where} restrictions")
    return Restrictions(eku_client_auth=bool(value.get("eku_client_auth", True)),
                        issuers=tuple(_strings(value.get("issuers", []), "issuers")),
                        subject_patterns=tuple(_strings(value.get("subject_patterns", []), "subject_patterns")),
                        san_patterns=tuple(_strings(value.get("san_patterns", []), "san_patterns")))


def _backend(value: Any, address: Any, where: str) -> Backend:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: backend = \"https://host:port\" is required")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"{where}: backend must be http(s)://host[:port] without a path, not {value!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ConfigError(f"{where}: invalid port in backend {value!r}") from None
    pinned = parse_listen(str(address)) if address is not None else None
    return Backend(parts.scheme, parts.hostname, port, pinned)


def _route(item: dict[str, Any], base: Path, check: bool, number: int, listeners: list[str]) -> Route:
    name = str(item.get("name", f"route{number}"))
    where = f"route {name!r}"
    _unknown(item, _ROUTE, where)
    listener = item.get("listener", listeners[0] if len(listeners) == 1 else None)
    if listener not in listeners:
        raise ConfigError(f"{where}: listener must name a [[listener]] ({', '.join(listeners)})")
    hosts = tuple(h.lower() for h in _strings(item.get("hosts", []), f"{where} hosts"))
    if not hosts:
        raise ConfigError(f"{where}: hosts = [\"name\", ...] is required")
    paths = tuple(_strings(item.get("paths", []), f"{where} paths"))
    if any(not p.startswith("/") for p in paths):
        raise ConfigError(f"{where}: paths are prefixes starting with '/'")
    mode = _choice(item.get("mode", "reencrypt"), Mode, f"{where} mode")
    backend = _backend(item.get("backend"), item.get("backend_address"), where)
    if mode == Mode.PASSTHROUGH and paths:
        raise ConfigError(f"{where}: passthrough routes by SNI only; remove paths")
    if mode == Mode.REENCRYPT and backend.scheme != "https":
        raise ConfigError(f"{where}: reencrypt needs an https:// backend")
    if mode == Mode.OFFLOAD and backend.scheme != "http":
        raise ConfigError(f"{where}: offload sends plain HTTP, use an http:// backend")
    identity = str(item.get("identity", "none"))
    if identity not in IDENTITY_KINDS:
        raise ConfigError(f"{where}: identity must be {' | '.join(IDENTITY_KINDS)}, not {identity!r}")
    kerberos = item.get("kerberos", {})
    if not isinstance(kerberos, dict):
        raise ConfigError(f"{where}: kerberos must be a table ([route.kerberos])")
    kerberos = {k: str((base / v).resolve()) if k in ("keytab", "krb5_conf") and isinstance(v, str) and v else v
                for k, v in kerberos.items()}  # relative to this file, like every other path
    bridging = item.get("bridging_certificate")
    ep = str(item.get("backend_extended_protection", "unknown")).lower()
    if ep not in ("none", "allow", "require", "unknown"):
        raise ConfigError(f"{where}: backend_extended_protection must be none | allow | require | unknown")
    bcc = str(item.get("backend_client_certificate", "unknown")).lower()
    if bcc not in ("ignore", "accept", "require", "unknown"):
        raise ConfigError(f"{where}: backend_client_certificate must be ignore | accept | require | unknown")
    preserve = item.get("preserve_host", True)
    if not isinstance(preserve, bool):
        raise ConfigError(f"{where}: preserve_host must be true or false")
    return Route(
        name=name, listener=str(listener), hosts=hosts, paths=paths, mode=mode, backend=backend,
        backend_ca=tuple(_file(base, p, f"{where} backend_ca", check)
                         for p in _strings(item.get("backend_ca", []), "backend_ca")),
        client_certificate=_choice(item.get("client_certificate", "off"), ClientCert, f"{where} client_certificate"),
        fallback=_choice(item.get("fallback", "none"), Fallback, f"{where} fallback"),
        bridging_certificate=_pair(base, bridging, f"{where} bridging_certificate", check) if bridging else None,
        preserve_host=preserve, identity=identity,
        identity_header=str(item.get("identity_header", "X-Bridgehead-User")), kerberos=dict(kerberos),
        backend_extended_protection=ep, backend_client_certificate=bcc,
    )
