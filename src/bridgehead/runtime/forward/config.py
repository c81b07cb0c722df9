"""Forward-proxy settings from a TOML file, with command-line flags taking precedence.

    listen = "127.0.0.1:8080"
    state_dir = "state"
    access_log = "access.log"
    default = "inspect"                 # inspect | tunnel
    on_client_cert_request = "tunnel"   # tunnel | block | present
    upstream_ca = ["internal-ca.pem"]
    upstream_crl = ["internal-ca.crl"]
    learn_ttl = "12h"
    exception_source = ["10.1.2.3", "dirsync01.corp.example"]
    exception_destination = ["*.microsoftonline.com", "192.0.2.0/24:443"]

    [[client_cert_rule]]                # per destination; first match wins
    destination = "api.partner.example"
    action = "present"                  # tunnel | block | present
    cert = "partner-client.pem"
    key = "partner-client.key"

Relative paths are relative to the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from bridgehead.core.forward_policy import (
    Action,
    CertRequestAction,
    CertRule,
    DestinationRule,
    ForwardPolicy,
    PolicyError,
    SourceRule,
)
from bridgehead.runtime.forward.server import ForwardSettings

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(ValueError):
    pass


def parse_duration(value: str | int | float) -> float:
    if isinstance(value, int | float):
        return float(value)
    text = value.strip().lower()
    if text and text[-1] in _UNITS and text[:-1].replace(".", "", 1).isdigit():
        return float(text[:-1]) * _UNITS[text[-1]]
    if text.replace(".", "", 1).isdigit():
        return float(text)
    raise ConfigError(f"invalid duration {value!r} (use e.g. 60s, 15m, 12h)")


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"invalid listen address {text!r} (use HOST:PORT)")
    return host, int(port)


def load_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    base = path.parent
    for key in ("state_dir", "access_log"):
        if key in data:
            data[key] = str(base / data[key])
    for key in ("upstream_ca", "upstream_crl"):
        if key in data:
            data[key] = [str(base / p) for p in _list(data[key], key)]
    for rule in data.get("client_cert_rule", []):
        for key in ("cert", "key"):
            if key in rule:
                rule[key] = str(base / rule[key])
    return data


def _list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ConfigError(f"{key} must be a string or a list of strings")


def build(data: dict[str, Any]) -> ForwardSettings:
    """Settings from merged file + flag values (flags already folded into ``data``)."""
    known = {"listen", "state_dir", "access_log", "default", "on_client_cert_request", "upstream_ca",
             "upstream_crl", "learn_ttl", "exception_source", "exception_destination", "client_cert_rule",
             "read_timeout", "store_url"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    try:
        policy = ForwardPolicy(
            default=Action(data.get("default", "inspect")),
            sources=[SourceRule.parse(s) for s in _list(data.get("exception_source", []), "exception_source")],
            destinations=[DestinationRule.parse(s)
                          for s in _list(data.get("exception_destination", []), "exception_destination")],
            on_cert_request=CertRequestAction(data.get("on_client_cert_request", "tunnel")),
            cert_rules=[_cert_rule(r) for r in data.get("client_cert_rule", [])],
        )
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    except ValueError as exc:
        raise ConfigError(f"invalid value: {exc}") from None
    if policy.default == Action.DENY:
        raise ConfigError("default must be inspect or tunnel")
    host, port = parse_listen(str(data.get("listen", "127.0.0.1:8080")))
    settings = ForwardSettings(
        host=host, port=port, state_dir=Path(data.get("state_dir", "state")),
        access_log=Path(data["access_log"]) if data.get("access_log") else None,
        upstream_ca=[Path(p) for p in _list(data.get("upstream_ca", []), "upstream_ca")],
        upstream_crl=[Path(p) for p in _list(data.get("upstream_crl", []), "upstream_crl")],
        policy=policy, learn_ttl=parse_duration(data.get("learn_ttl", "12h")),
        store_url=data.get("store_url"),
    )
    if "read_timeout" in data:
        settings.read_timeout = parse_duration(data["read_timeout"])
    for path in [*settings.upstream_ca, *settings.upstream_crl]:
        if not path.is_file():
            raise ConfigError(f"file not found: {path}")
    return settings


def _cert_rule(rule: dict[str, Any]) -> CertRule:
    if "destination" not in rule:
        raise ConfigError("client_cert_rule needs a destination")
    action = CertRequestAction(rule.get("action", "present" if "cert" in rule else "tunnel"))
    cert = None
    if "cert" in rule or "key" in rule:
        if not ("cert" in rule and "key" in rule):
            raise ConfigError(f"client_cert_rule {rule['destination']!r}: give both cert and key")
        for key in ("cert", "key"):
            if not Path(rule[key]).is_file():
                raise ConfigError(f"file not found: {rule[key]}")
        cert = (str(rule["cert"]), str(rule["key"]))
    if action == CertRequestAction.PRESENT and cert is None:
        raise ConfigError(f"client_cert_rule {rule['destination']!r}: action present needs cert and key")
    return CertRule(DestinationRule.parse(str(rule["destination"])), action, cert)
