"""Forward-proxy access rules (TMG's model): ordered, named, first match wins.

Pure decisions over plain values; the runtime resolves source host names and authenticates.

A rule (``[[rule]]`` in the forward TOML) has ``name``, ``action`` (allow | deny), and optional
``source`` (IP, CIDR, host name), ``destination`` (domain, ``*.domain``, IP, CIDR, ``:port``),
``method``, ``users``, ``groups`` and ``authenticate``. Evaluation for one request, rule by rule:

1. a rule whose source, destination or method does not match is skipped;
2. a rule that needs an authenticated user (``authenticate = true``, a ``users`` or a ``groups``
   list):

   * the client has not authenticated: if its source is exempt from authentication (an
     inspection exception by source, the DirSync server whose service account cannot answer a
     407), a rule *without* a ``users``/``groups`` list applies to it anonymously; otherwise the
     answer is ``authenticate`` (407, RFC 9110 §15.5.8) naming the rule;
   * the client has authenticated as a user that neither the ``users`` list names nor a member
     of the ``groups`` is: the rule does not apply (TMG: a rule applies to the users and groups
     it lists), the next rule is tried.

3. otherwise the rule decides: ``allow`` or ``deny``.

No rule matched: ``deny`` (TMG's "Default rule"). No rule at all: sources on loopback are
allowed, every other source is denied — a proxy started without rules is never open.

User names compare case-insensitively; ``alice`` names ``alice``, ``CORP\\alice`` and
``alice@EXAMPLE.TEST``, while ``CORP\\alice`` names only that user, and ``alice@EXAMPLE.TEST`` only
that one too, however it is written (``EXAMPLE.TEST\\alice`` is how a Negotiate logon reports it);
``*`` names any authenticated user. Groups come from the users file (the runtime resolves each
group to its members' names, :func:`bridgehead.core.proxy_auth.group_members`, into
``AccessRule.members``); a member entry names users exactly as a ``users`` entry does.

The open-proxy guard (:func:`open_proxy_problem`): a listener on a non-loopback address is
refused at start-up when no rule restricts sources or requires authentication, or when an
``allow`` rule lets any source reach any destination anonymously — unless ``open_proxy = true``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bridgehead.core.forward_policy import DestinationRule, IPAddress, PolicyError, SourceRule


class Verdict(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    AUTHENTICATE = "authenticate"


@dataclass(frozen=True)
class AccessRule:
    name: str
    action: Verdict  # ALLOW or DENY
    sources: tuple[SourceRule, ...] = ()
    destinations: tuple[DestinationRule, ...] = ()
    methods: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    authenticate: bool = False
    groups: tuple[str, ...] = ()
    members: tuple[str, ...] = ()  # the users-file names in ``groups`` (resolved by the runtime)

    @property
    def needs_user(self) -> bool:
        return self.authenticate or bool(self.users) or bool(self.groups)

    def names_user(self, user: str) -> bool:
        if not self.users and not self.groups:
            return True
        return any(user_matches(entry, user) for entry in (*self.users, *self.members))


@dataclass(frozen=True)
class AccessDecision:
    verdict: Verdict
    rule: str  # the rule's name, for the log and the page
    reason: str


NO_RULE_NAME = "default (no [[rule]]: loopback sources only)"
DEFAULT_DENY_NAME = "default rule (no rule matched)"


def _split_user(name: str) -> tuple[str, str]:
    """``(domain, user)`` of ``DOMAIN\\user`` or ``user@REALM`` (the same account: Negotiate users
    are reported as ``REALM\\user``), ``("", user)`` for a bare name; lower-cased."""
    text = name.strip().lower()
    if "\\" in text:
        domain, _, user = text.rpartition("\\")
        return domain, user
    user, _, domain = text.partition("@")
    return domain, user


def user_matches(entry: str, user: str) -> bool:
    """Whether the rule's user entry names the authenticated ``user`` (see the module)."""
    if entry.strip() == "*":
        return True
    e_domain, e_user = _split_user(entry)
    u_domain, u_user = _split_user(user)
    return e_user == u_user and (not e_domain or e_domain == u_domain)


def parse_rule(data: Mapping[str, object], number: int) -> AccessRule:
    """One ``[[rule]]`` table; ``PolicyError`` names the key that is wrong."""
    known = {"name", "action", "source", "destination", "method", "users", "groups", "authenticate"}
    unknown = set(data) - known
    if unknown:
        raise PolicyError(f"unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError("name is required (a string naming the rule in logs and pages)")
    action = data.get("action")
    if action not in ("allow", "deny"):
        raise PolicyError(f"action must be allow | deny, not {action!r}")
    authenticate = data.get("authenticate", False)
    if not isinstance(authenticate, bool):
        raise PolicyError(f"authenticate must be true or false, not {authenticate!r}")
    lists = {key: _strings(data.get(key, []), key) for key in ("source", "destination", "method", "users", "groups")}
    return AccessRule(
        name=name.strip(), action=Verdict(action),
        sources=tuple(SourceRule.parse(s) for s in lists["source"]),
        destinations=tuple(DestinationRule.parse(d) for d in lists["destination"]),
        methods=tuple(m.upper() for m in lists["method"]),
        users=tuple(lists["users"]), authenticate=authenticate, groups=tuple(lists["groups"]),
    )


def _strings(value: object, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise PolicyError(f"{key} must be a string or a list of strings")


def evaluate(
    rules: Sequence[AccessRule],
    client: IPAddress,
    host: str,
    port: int,
    method: str,
    *,
    user: str | None = None,
    exempt: bool = False,
    resolved: Mapping[str, frozenset[IPAddress]] | None = None,
    addresses: Iterable[IPAddress] = (),
) -> AccessDecision:
    """Allow, deny or ask for authentication (see the module for the order)."""
    if not rules:
        if client.is_loopback or _mapped_loopback(client):
            return AccessDecision(Verdict.ALLOW, NO_RULE_NAME, "no access rule configured: loopback source allowed")
        return AccessDecision(Verdict.DENY, NO_RULE_NAME,
                              f"no access rule configured: only loopback sources are allowed, not {client}")
    names = resolved or {}
    addrs = list(addresses)
    for rule in rules:
        if rule.sources and not any(s.matches(client, names) for s in rule.sources):
            continue
        if rule.destinations and not any(d.matches(host, port, addrs) for d in rule.destinations):
            continue
        if rule.methods and method.upper() not in rule.methods:
            continue
        if rule.needs_user:
            if user is None:
                if exempt and not rule.users and not rule.groups:
                    return AccessDecision(rule.action, rule.name,
                                          f"rule {rule.name!r} ({rule.action.value}); source {client} is exempt "
                                          "from authentication")
                return AccessDecision(Verdict.AUTHENTICATE, rule.name,
                                      f"rule {rule.name!r} requires proxy authentication")
            if not rule.names_user(user):
                continue
        who = f" for {user}" if user else ""
        return AccessDecision(rule.action, rule.name, f"rule {rule.name!r} ({rule.action.value}){who}")
    return AccessDecision(Verdict.DENY, DEFAULT_DENY_NAME, f"no rule allows {client} to {host}:{port}")


def _mapped_loopback(client: IPAddress) -> bool:
    mapped = getattr(client, "ipv4_mapped", None)
    return mapped is not None and mapped.is_loopback


def listen_is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` or ``localhost``; anything else (``0.0.0.0``, a name) is not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_proxy_problem(host: str, rules: Sequence[AccessRule], *, open_proxy: bool) -> str | None:
    """Why listening on ``host`` would make an open proxy, or None (see the module)."""
    if open_proxy or listen_is_loopback(host):
        return None
    if not any(rule.sources or rule.needs_user for rule in rules):
        return (f"listening on {host} (not loopback) with no [[rule]] that restricts sources or requires "
                "authentication makes an open proxy; add rules or set open_proxy = true")
    for rule in rules:
        if rule.action == Verdict.ALLOW and not (rule.sources or rule.destinations or rule.needs_user):
            return (f"listening on {host} (not loopback): rule {rule.name!r} allows any source to any destination "
                    "without authentication (an open proxy); restrict it or set open_proxy = true")
    return None
