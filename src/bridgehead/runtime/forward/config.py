"""Forward-proxy settings from a TOML file, with command-line flags taking precedence.

    listen = "127.0.0.1:8080"
    state_dir = "state"
    access_log = "access.log"
    default = "inspect"                 # inspect | tunnel
    on_client_cert_request = "tunnel"   # tunnel | block | present
    h2_only = "inspect"                 # inspect | tunnel | block: clients offering h2 but not http/1.1
    upstream_ca = ["internal-ca.pem"]
    upstream_crl = ["internal-ca.crl"]
    learn_ttl = "12h"
    exception_source = ["10.1.2.3", "dirsync01.corp.example"]
    exception_destination = ["*.microsoftonline.com", "192.0.2.0/24:443"]
    parent = "http://proxy-user@parent.corp.example:3128"   # default route (web chaining)
    parent_password_file = "parent.pass"                     # or BRIDGEHEAD_PARENT_PASSWORD
    on_channel_binding_failure = "learn"                     # learn | log
    ocsp = "open"                       # open | closed | off: OCSP for origin certificates (default open)
    ocsp_timeout = "3s"                 # the longest wait for the responder

    [[chain]]                           # per destination; first match wins, before `parent`
    destination = ["*.corp.example", "10.0.0.0/8"]
    via = "direct"                      # or "http://[user@]HOST:PORT" (+ password_file)

    [[ocsp]]                            # per destination; first match wins, before `ocsp`
    destination = ["*.bank.example"]
    fail = "closed"                     # open | closed | off

    [[client_cert_rule]]                # per destination; first match wins
    destination = "api.partner.example"
    action = "present"                  # tunnel | block | present
    cert = "partner-client.pem"
    key = "partner-client.key"

The same file may use the layout of ``bridgehead serve``: these settings under ``[forward]``,
access rules as ``[[rule]]`` tables at the top level (``store`` and ``state_dir`` at the top level
too; serve's ``[admin]``, ``[[listener]]``, ``[[route]]`` belong to other listeners and are left to
``serve``). Proxy authentication and access rules::

    [forward]
    listen = "0.0.0.0:8080"
    auth = ["negotiate", "ntlm", "basic"]   # offered in this order (Proxy-Authenticate)
    users = "proxy-users.txt"               # bridgehead users add FILE USER
    keytab = "proxy.keytab"                 # HTTP/proxy.fqdn, for Negotiate/Kerberos
    open_proxy = false                      # the open-proxy guard (core/access_rules.py)

    [[rule]]                                # in order, first match wins
    name = "DirSync to Azure AD"
    action = "allow"                        # allow | deny
    source = ["dirsync01.corp.example"]
    destination = ["*.microsoftonline.com"]
    [[rule]]
    name = "Authenticated users"
    action = "allow"
    source = ["10.0.0.0/8"]
    authenticate = true
    users = ["CORP\\alice", "bob"]        # optional; any authenticated user without it
    groups = ["sales"]                      # optional: members by the users file
                                            # (bridgehead users add FILE USER --group sales)

With ``auth`` and no rule the proxy requires authentication from every source (rule
``default (authenticated users)``); without either only loopback sources are allowed.

Relative paths are relative to the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from bridgehead.core.access_rules import AccessRule, Verdict, open_proxy_problem, parse_rule
from bridgehead.core.forward_ocsp import DEFAULT_MODE as DEFAULT_OCSP_MODE
from bridgehead.core.forward_ocsp import OcspPolicy
from bridgehead.core.forward_ocsp import parse_policy as parse_ocsp_policy
from bridgehead.core.forward_policy import (
    Action,
    CertRequestAction,
    CertRule,
    DestinationRule,
    ForwardPolicy,
    PolicyError,
    SourceRule,
)
from bridgehead.core.proxy.inspection import H2_ONLY_ACTIONS
from bridgehead.runtime.forward.auth import SCHEMES, AuthConfigError, ProxyAuth, load_users
from bridgehead.runtime.forward.server import ForwardSettings
from bridgehead.runtime.forward.upstream import parse_chain, parse_legacy_tls, read_password
from bridgehead.runtime.streams import Deadlines

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


SERVE_ONLY = ("admin", "listener", "route", "drain_timeout", "log_file", "workers")  # serve's, not forward's
SERVE_ONLY_FORWARD = ("ca_key_passphrase_file",)  # [forward] keys of serve's array CA (forward/array_ca.py)


def load_file(path: Path) -> dict[str, Any]:
    """The file's forward settings: top-level keys, or serve's layout (``[forward]`` + ``[[rule]]``)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:  # toml.io: "A TOML file must be a valid UTF-8 encoded Unicode document"
        raise ConfigError(f"{path}: not a TOML file: not valid UTF-8 at byte {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if isinstance(data.get("forward"), dict):
        section = data.pop("forward")
        for key in SERVE_ONLY:
            data.pop(key, None)
        for key in SERVE_ONLY_FORWARD:
            section.pop(key, None)
        if "store" in data:
            data["store_url"] = data.pop("store")
        if isinstance(data.get("ocsp"), list) and "ocsp" in section:  # [forward] ocsp = "..." + [[ocsp]]
            data["ocsp_tables"] = data.pop("ocsp")
        both = set(section) & set(data)
        if both:
            raise ConfigError(f"{path}: {', '.join(sorted(both))} set both at the top level and in [forward]")
        data.update(section)
    return resolve_paths(data, path.parent)


def resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """File settings made relative to the configuration file's folder (``base``), in place."""
    for key in ("users", "keytab"):
        if isinstance(data.get(key), str):
            data[key] = str(base / data[key])
    for key in ("state_dir", "access_log"):
        if key in data:
            data[key] = str(base / data[key])
    for key in ("upstream_ca", "upstream_crl"):
        if key in data:
            data[key] = [str(base / p) for p in _list(data[key], key)]
    if isinstance(data.get("parent_password_file"), str):
        data["parent_password_file"] = str(base / data["parent_password_file"])
    for table in data.get("chain", []) if isinstance(data.get("chain"), list) else []:
        if isinstance(table, dict) and isinstance(table.get("password_file"), str):
            table["password_file"] = str(base / table["password_file"])
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


def _choice(value: Any, enum: Any, key: str, allowed: tuple[Any, ...] | None = None) -> Any:
    choices = allowed or tuple(enum)
    try:
        member = enum(value)
    except ValueError:
        member = None
    if member not in choices:
        raise ConfigError(f"{key} must be {' | '.join(c.value for c in choices)}, not {value!r}")
    return member


def build(data: dict[str, Any], source: Path | None = None, file_keys: Collection[str] = ()) -> ForwardSettings:
    """Settings from merged file + flag values (flags already folded into ``data``).

    ``source`` is the TOML file and ``file_keys`` the settings that came from it: an error about
    one of those names the file too (``forward.toml: default must be inspect | tunnel, not 'x'``)."""

    def fail(key: str, message: str) -> ConfigError:
        """``message`` begins with the key's name (``default must be …``) or is appended after a colon."""
        text = message if message.startswith(key) else f"{key}: {message}"
        top = key.split("[", 1)[0]
        return ConfigError(f"{source}: {text}" if source is not None and top in file_keys else text)

    known = {"listen", "state_dir", "access_log", "default", "on_client_cert_request", "upstream_ca",
             "upstream_crl", "learn_ttl", "exception_source", "exception_destination", "client_cert_rule",
             "read_timeout", "store_url", "legacy_tls", "auth", "users", "keytab", "open_proxy", "rule", "h2_only",
             *LIMIT_KEYS, *OCSP_KEYS}
    known |= set(CHAIN_KEYS)
    unknown = set(data) - known
    if unknown:
        prefix = f"{source}: " if source is not None and unknown & set(file_keys) else ""
        raise ConfigError(f"{prefix}unknown setting(s): {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(known))})")
    try:
        default = _choice(data.get("default", "inspect"), Action, "default", (Action.INSPECT, Action.TUNNEL))
        on_request = _choice(data.get("on_client_cert_request", "tunnel"), CertRequestAction,
                             "on_client_cert_request")
    except ConfigError as exc:
        raise fail(str(exc).split(" ", 1)[0], str(exc)) from None
    lists: dict[str, list[str]] = {}
    for key in ("exception_source", "exception_destination", "upstream_ca", "upstream_crl"):
        try:
            lists[key] = _list(data.get(key, []), key)
        except ConfigError:
            raise fail(key, "must be a string or a list of strings") from None
    rules = data.get("client_cert_rule", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise fail("client_cert_rule", "must be an array of tables ([[client_cert_rule]])")
    try:
        sources = [SourceRule.parse(s) for s in lists["exception_source"]]
    except (PolicyError, ValueError) as exc:
        raise fail("exception_source", str(exc)) from None
    try:
        destinations = [DestinationRule.parse(s) for s in lists["exception_destination"]]
    except (PolicyError, ValueError) as exc:
        raise fail("exception_destination", str(exc)) from None
    cert_rules = []
    for number, rule in enumerate(rules, 1):
        key = f"client_cert_rule[{number}]"
        try:
            cert_rules.append(_cert_rule(rule, key))
        except (PolicyError, ValueError) as exc:
            raise fail(key, str(exc)) from None
    policy = ForwardPolicy(default=default, sources=sources, destinations=destinations,
                           on_cert_request=on_request, cert_rules=cert_rules)
    try:
        host, port = parse_listen(str(data.get("listen", "127.0.0.1:8080")))
    except ConfigError as exc:
        raise fail("listen", str(exc)) from None
    durations: dict[str, float] = {}
    for key, fallback in (("learn_ttl", "12h"), ("read_timeout", "")):
        if key in data or fallback:
            try:
                durations[key] = parse_duration(data.get(key, fallback))
            except (ConfigError, AttributeError):
                raise fail(key, f"invalid duration {data.get(key)!r} (use e.g. 60s, 15m, 12h)") from None
    settings = ForwardSettings(
        host=host, port=port, state_dir=Path(data.get("state_dir", "state")),
        access_log=Path(data["access_log"]) if data.get("access_log") else None,
        upstream_ca=[Path(p) for p in lists["upstream_ca"]],
        upstream_crl=[Path(p) for p in lists["upstream_crl"]],
        policy=policy, learn_ttl=durations["learn_ttl"],
        store_url=data.get("store_url"),
    )
    if "read_timeout" in durations:
        settings.read_timeout = durations["read_timeout"]
    try:
        settings.legacy_tls = parse_legacy_tls(data.get("legacy_tls", []))
    except ValueError as exc:
        raise fail("legacy_tls", str(exc)) from None
    settings.chain, settings.on_channel_binding_failure = parse_chaining(data, fail)
    settings.ocsp = parse_ocsp(data, fail)
    limits = parse_limits(data, fail)
    settings.deadlines = Deadlines(head=limits["head_timeout"], idle=limits["idle_timeout"],
                                   read=settings.read_timeout, body_rate=limits["body_min_rate"],
                                   body_grace=limits["head_timeout"])
    settings.max_connections = int(limits["max_connections"])
    settings.max_connections_per_source = int(limits["max_connections_per_source"])
    for key in ("upstream_ca", "upstream_crl"):
        for path in lists[key]:
            if not Path(path).is_file():
                raise fail(key, f"file not found: {path}")
    h2_only = data.get("h2_only", "inspect")
    if h2_only not in H2_ONLY_ACTIONS:
        raise fail("h2_only", f"h2_only must be {' | '.join(H2_ONLY_ACTIONS)}, not {h2_only!r}")
    settings.h2_only = h2_only
    _access(data, settings, fail)
    return settings


def _access(data: dict[str, Any], settings: ForwardSettings, fail: Callable[[str, str], ConfigError]) -> None:
    """``[[rule]]``, ``auth``/``users``/``keytab`` and the open-proxy guard."""
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise fail("rule", "must be an array of tables ([[rule]])")
    rules = []
    for number, item in enumerate(raw_rules, 1):
        try:
            rules.append(parse_rule(item, number))
        except (PolicyError, ValueError) as exc:
            raise fail(f"rule[{number}]", str(exc)) from None
    names = [r.name.lower() for r in rules]
    for name in names:
        if names.count(name) > 1:
            raise fail("rule", f"two rules are named {name!r}: names must be unique (they are what logs show)")
    schemes = data.get("auth", [])
    if isinstance(schemes, str):
        schemes = [s.strip() for s in schemes.split(",") if s.strip()]
    if not isinstance(schemes, list) or not all(isinstance(s, str) for s in schemes):
        raise fail("auth", f"must be a list of schemes ({', '.join(SCHEMES)})")
    schemes = [s.lower() for s in schemes]
    open_proxy = data.get("open_proxy", False)
    if not isinstance(open_proxy, bool):
        raise fail("open_proxy", f"must be true or false, not {open_proxy!r}")
    users_path = Path(data["users"]) if data.get("users") else None
    keytab = Path(data["keytab"]) if data.get("keytab") else None
    if schemes:
        if ("basic" in schemes or "ntlm" in schemes) and users_path is None:
            raise fail("users", "auth basic/ntlm needs a users file (users = FILE, --users FILE; "
                       "'bridgehead users add FILE USER' creates it)")
        if "negotiate" in schemes and keytab is None and users_path is None:
            raise fail("keytab", "auth negotiate needs a keytab for HTTP/proxy.fqdn (keytab = FILE, --keytab FILE)")
        if keytab is not None and not keytab.is_file():
            raise fail("keytab", f"file not found: {keytab}")
        if keytab is not None and "negotiate" in schemes:
            try:
                import gssapi  # noqa: F401
            except ImportError:
                raise fail("keytab", "Negotiate/Kerberos needs python-gssapi (pip install gssapi)") from None
        try:
            users = load_users(users_path) if users_path is not None else []
            settings.auth = ProxyAuth(schemes, users, keytab if "negotiate" in schemes else None)
        except AuthConfigError as exc:
            raise fail("auth" if str(exc).startswith("auth") else "users", str(exc)) from None
        try:
            rules = _resolve_groups(rules, users, users_path)
        except ValueError as exc:
            raise fail("rule", str(exc)) from None
        if not rules:  # authentication turned on without rules: every source must authenticate
            rules = [AccessRule("default (authenticated users)", Verdict.ALLOW, authenticate=True)]
    else:
        for key in ("users", "keytab"):
            if data.get(key):
                raise fail(key, "is set but auth names no scheme (auth = [\"basic\", \"ntlm\", \"negotiate\"])")
        for rule in rules:
            if rule.needs_user:
                raise fail("rule", f"rule {rule.name!r} requires authentication but auth names no scheme")
    problem = open_proxy_problem(settings.host, rules, open_proxy=open_proxy)
    if problem:
        raise fail("open_proxy", problem)
    settings.rules, settings.open_proxy = rules, open_proxy


def _resolve_groups(rules: list[AccessRule], users: list[Any], users_path: Path | None) -> list[AccessRule]:
    """Each rule's ``groups`` resolved to the users-file names of their members (``AccessRule.members``).

    A group no entry of the users file is in is refused (a misspelt group would otherwise make its
    rule apply to nobody without a word)."""
    import dataclasses

    from bridgehead.core.proxy_auth import group_members

    out = []
    for rule in rules:
        if not rule.groups:
            out.append(rule)
            continue
        if users_path is None:
            raise ValueError(f"rule {rule.name!r} names groups but there is no users file (users = FILE, --users "
                             "FILE): group membership is kept there ('bridgehead users add FILE USER --group G')")
        members: list[str] = []
        for group in rule.groups:
            found = group_members(users, group)
            if not found:
                raise ValueError(f"rule {rule.name!r}: no user of {users_path} is in group {group!r} "
                                 "('bridgehead users add FILE USER --group G')")
            members += found
        out.append(dataclasses.replace(rule, members=tuple(dict.fromkeys(members))))
    return out


OCSP_KEYS = ("ocsp", "ocsp_timeout", "ocsp_tables")


def parse_ocsp(data: dict[str, Any], fail: Callable[[str, str], ConfigError]) -> OcspPolicy:
    """``ocsp = "open" | "closed" | "off"``, ``ocsp_timeout`` and the ``[[ocsp]]`` tables.

    In one flat file ``ocsp`` is either the default (a string) or the tables (``[[ocsp]]``, the
    default then stays ``open``); in serve's layout ``[forward] ocsp`` and top-level ``[[ocsp]]``
    go together."""
    raw = data.get("ocsp", DEFAULT_OCSP_MODE)
    tables = data.get("ocsp_tables", [])
    if isinstance(raw, list):
        tables, raw = raw, DEFAULT_OCSP_MODE
    try:
        timeout = parse_duration(data.get("ocsp_timeout", "3s"))
    except (ConfigError, AttributeError, ValueError):
        raise fail("ocsp_timeout", f"invalid duration {data.get('ocsp_timeout')!r} (use e.g. 3s)") from None
    try:
        return parse_ocsp_policy(raw, tables, timeout)
    except PolicyError as exc:
        text = str(exc)
        raise fail(text.split(" ", 1)[0].split(":", 1)[0], text) from None


CHAIN_KEYS = ("parent", "parent_password_file", "chain", "on_channel_binding_failure")


def parse_chaining(data: dict[str, Any], fail: Callable[[str, str], ConfigError]) -> tuple[Any, str]:
    """``parent`` / ``[[chain]]`` (passwords read from their files) and ``on_channel_binding_failure``."""
    mode = data.get("on_channel_binding_failure", "learn")
    if mode not in ("learn", "log"):
        raise fail("on_channel_binding_failure", f"on_channel_binding_failure must be learn | log, not {mode!r}")
    parent = data.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise fail("parent", "must be a string: http://HOST:PORT")
    passwords: dict[str, str] = {}
    tables = data.get("chain", [])
    try:
        if data.get("parent_password_file"):
            passwords["parent"] = read_password(Path(str(data["parent_password_file"])), "parent_password_file")
        for i, table in enumerate(tables if isinstance(tables, list) else [], 1):
            if isinstance(table, dict) and table.get("password_file"):
                passwords[f"chain[{i}]"] = read_password(Path(str(table["password_file"])), f"chain[{i}]")
        return parse_chain(tables, parent, passwords), mode
    except ValueError as exc:
        key = str(exc).split(":", 1)[0]
        raise fail(key, str(exc)) from None


LIMIT_KEYS = ("head_timeout", "idle_timeout", "body_min_rate", "max_connections", "max_connections_per_source")
_LIMIT_DEFAULTS: dict[str, str | int | float] = {"head_timeout": "30s", "idle_timeout": "60s", "body_min_rate": 1024,
                                                 "max_connections": 4096, "max_connections_per_source": 256}


def parse_limits(data: dict[str, Any], fail: Callable[[str, str], ConfigError]) -> dict[str, float]:
    """The slow-client deadlines and connection limits shared by the forward and reverse proxies.

    ``head_timeout``/``idle_timeout`` are durations (> 0); ``body_min_rate`` is bytes per second
    a request body must average once ``head_timeout`` has passed (0 turns the check off);
    ``max_connections``/``max_connections_per_source`` are counts (0 = no limit)."""
    out: dict[str, float] = {}
    for key in LIMIT_KEYS:
        value = data.get(key, _LIMIT_DEFAULTS[key])
        if key.endswith("_timeout"):
            try:
                out[key] = parse_duration(value)
            except (ConfigError, AttributeError, ValueError):
                raise fail(key, f"invalid duration {value!r} (use e.g. 30s, 2m)") from None
            if out[key] <= 0:
                raise fail(key, "must be more than 0s")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise fail(key, f"must be a number of {'bytes per second' if key == 'body_min_rate' else 'connections'}"
                            f" (0 = off), not {value!r}")
        out[key] = float(value)
    return out


def _cert_rule(rule: dict[str, Any], key: str) -> CertRule:
    if "destination" not in rule:
        raise ConfigError(f"{key}.destination is required")
    action = _choice(rule.get("action", "present" if "cert" in rule else "tunnel"), CertRequestAction,
                     f"{key}.action")
    cert = None
    if "cert" in rule or "key" in rule:
        if not ("cert" in rule and "key" in rule):
            raise ConfigError(f"{key}: give both cert and key")
        for part in ("cert", "key"):
            if not Path(rule[part]).is_file():
                raise ConfigError(f"{key}.{part}: file not found: {rule[part]}")
        cert = (str(rule["cert"]), str(rule["key"]))
    if action == CertRequestAction.PRESENT and cert is None:
        raise ConfigError(f"{key}: action present needs cert and key")
    return CertRule(DestinationRule.parse(str(rule["destination"])), action, cert)
