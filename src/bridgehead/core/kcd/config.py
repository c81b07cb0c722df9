"""The ``[route.kerberos]`` table of a delegating route, validated into :class:`KerberosSettings`.

```toml
[route.kerberos]
principal = "HTTP/proxy.example.test@EXAMPLE.TEST"   # the proxy's own principal (in the keytab)
keytab = "proxy.keytab"                               # relative to the configuration file
spn = "HTTP/{backend_host}"                           # template, see bridgehead.core.kcd.spn
user_mapping = ["upn-san", "email-san", "subject-cn@EXAMPLE.TEST"]
realm = "EXAMPLE.TEST"                                # default: the principal's realm
cache = true                                          # per-user credential cache
refresh_before = 300                                  # seconds before expiry a cached ticket is renewed
kdc_timeout = 10                                      # seconds a request waits for the KDC
krb5_conf = "krb5.conf"                               # optional: sets KRB5_CONFIG for the process
```

The ticket goes with every request to the backend (as TMG's KCD does). There is no ``send`` key:
an ``after-401`` mode (send the ticket only after the backend's ``401 WWW-Authenticate:
Negotiate``, like F5 APM) would need the request body kept for the second attempt, and a key
that is read but not acted on is worse than none; ``send`` is refused with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridgehead.core.kcd.cache import CachePolicy
from bridgehead.core.kcd.mapping import MappingConfigError, Rule, parse_rules
from bridgehead.core.kcd.spn import SpnError, template_fields

KEYS = {"principal", "keytab", "spn", "user_mapping", "realm", "cache", "refresh_before",
        "kdc_timeout", "krb5_conf", "max_entries"}


class KerberosConfigError(ValueError):
    """The route's kerberos table is unusable (one line naming the key)."""


@dataclass(frozen=True)
class KerberosSettings:
    principal: str
    keytab: Path
    spn_template: str
    rules: tuple[Rule, ...]
    realm: str
    cache: CachePolicy = field(default_factory=CachePolicy)
    kdc_timeout: float = 10.0
    krb5_conf: Path | None = None


def _path(value: Any, key: str, base: Path | None) -> Path:
    if not isinstance(value, str) or not value:
        raise KerberosConfigError(f"kerberos.{key} must be a file path")
    path = Path(value).expanduser()
    return path if path.is_absolute() or base is None else base / path


def _number(table: dict[str, Any], key: str, default: float, minimum: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise KerberosConfigError(f"kerberos.{key} must be a number >= {minimum:g}, not {value!r}")
    return float(value)


def parse_settings(table: dict[str, Any], base: Path | None = None) -> KerberosSettings:
    """Validate a route's kerberos table; relative paths are resolved against ``base``."""
    if not isinstance(table, dict) or not table:
        raise KerberosConfigError("identity = \"kerberos\" needs a [route.kerberos] table")
    if "send" in table:
        raise KerberosConfigError("kerberos.send is not an option: the ticket is sent with every request to the "
                                  "backend; remove the key")
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise KerberosConfigError(f"kerberos: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
    principal = table.get("principal")
    if not isinstance(principal, str) or "@" not in principal or principal.endswith("@"):
        raise KerberosConfigError("kerberos.principal must be a full principal such as HTTP/proxy.corp@CORP.EXAMPLE")
    realm = table.get("realm", principal.rpartition("@")[2])
    if not isinstance(realm, str) or not realm:
        raise KerberosConfigError("kerberos.realm must be a realm name")
    spn = table.get("spn", "HTTP/{backend_host}")
    if not isinstance(spn, str) or "/" not in spn:
        raise KerberosConfigError(f"kerberos.spn must be a template such as HTTP/{{backend_host}}, not {spn!r}")
    try:
        template_fields(spn)
        rules = parse_rules(table.get("user_mapping"), realm.upper())
    except (SpnError, MappingConfigError) as exc:
        raise KerberosConfigError(str(exc)) from None
    cache = table.get("cache", True)
    if not isinstance(cache, bool):
        raise KerberosConfigError("kerberos.cache must be true or false")
    policy = CachePolicy(refresh_before=_number(table, "refresh_before", 300, 0),
                         max_entries=int(_number(table, "max_entries", 10000, 0)), enabled=cache)
    krb5_conf = _path(table["krb5_conf"], "krb5_conf", base) if "krb5_conf" in table else None
    if "keytab" not in table:
        raise KerberosConfigError("kerberos.keytab is missing (the proxy's keytab file)")
    return KerberosSettings(principal=principal, keytab=_path(table["keytab"], "keytab", base), spn_template=spn,
                            rules=rules, realm=realm.upper(), cache=policy,
                            kdc_timeout=_number(table, "kdc_timeout", 10, 0.1), krb5_conf=krb5_conf)
