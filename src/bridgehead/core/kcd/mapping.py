"""User mapping of a delegating route: the edge's identity → the Kerberos principal to impersonate.

The listener has already mapped the client certificate to :class:`~bridgehead.core.reverse.model.Identity`
(``user`` + ``mapped_by`` upn | email | cn | rule:<n> | basic, and the RFC 4514 ``subject``). A route's
``user_mapping`` rules are tried in order; the first that applies gives the principal:

``upn-san``            the UPN from the SAN otherName (1.3.6.1.4.1.311.20.2.3); the suffix is upper-cased as
                       the realm (AD: realm = DNS domain in capitals)
``email-san``          the e-mail SAN, likewise ``local@DOMAIN``
``email-san@REALM``    the local part of the e-mail SAN in REALM
``subject-cn@REALM``   the subject's CN in REALM (from the subject, whatever the listener mapped by)
``basic``              the user of a Basic fallback logon: ``DOMAIN\\user`` → ``user@REALM``
``{source, pattern, user}``  a regex over upn | email | cn | subject | user; ``user`` is a template with
                       ``{0}`` (whole match), ``{1}``… and named groups.

A Basic fallback user is always mapped by ``basic`` unless the rules say otherwise. The result must be a
plain user principal ``name@REALM``: a ``/`` (a service principal — a certificate with CN
``krbtgt/…`` must not make the proxy impersonate a service), ``@`` in the name, whitespace or control
characters are refused (MS-SFU §3.1.5.1.1.1 lets S4U2Self name any principal, so the proxy must not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bridgehead.core.reverse.model import Identity

STRING_RULES = ("upn-san", "email-san", "basic")
SOURCES = ("upn", "email", "cn", "subject", "user")
_REALM = re.compile(r"^[A-Za-z0-9._-]+$")
_NAME = re.compile(r"^[^\s/@\\\x00-\x1f\x7f]{1,256}$")


class MappingConfigError(ValueError):
    """A user_mapping rule that cannot be used (configuration time)."""


class UnmappedUser(LookupError):
    """No rule produced a usable principal for this identity (request time; registry kcd-user-unmapped)."""


@dataclass(frozen=True)
class Rule:
    kind: str  # upn-san | email-san | email-san@ | subject-cn@ | basic | regex
    realm: str | None = None
    source: str | None = None
    pattern: re.Pattern[str] | None = None
    template: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "regex":
            return f"regex:{self.source}"
        return f"{self.kind}{self.realm}" if self.kind.endswith("@") else self.kind


@dataclass(frozen=True)
class Mapped:
    principal: str
    rule: str


def parse_rules(items: Any, default_realm: str) -> tuple[Rule, ...]:
    if items is None:
        items = ["upn-san", "email-san", f"subject-cn@{default_realm}"]
    if isinstance(items, str) or not isinstance(items, list) or not items:
        raise MappingConfigError("user_mapping must be a non-empty list of rules")
    return tuple(_rule(item) for item in items)


def _rule(item: Any) -> Rule:
    if isinstance(item, dict):
        return _regex_rule(item)
    if not isinstance(item, str):
        raise MappingConfigError(f"user_mapping rule {item!r} is neither a string nor a table")
    if item in STRING_RULES:
        return Rule(item)
    for prefix in ("email-san@", "subject-cn@"):
        if item.startswith(prefix):
            realm = item[len(prefix):]
            if not _REALM.fullmatch(realm):
                raise MappingConfigError(f"user_mapping rule {item!r}: {realm!r} is not a realm name")
            return Rule(prefix, realm=realm.upper())
    raise MappingConfigError(f"unknown user_mapping rule {item!r} (known: upn-san, email-san, email-san@REALM, "
                             "subject-cn@REALM, basic, or a table {source, pattern, user})")


def _regex_rule(item: dict[str, Any]) -> Rule:
    unknown = set(item) - {"source", "pattern", "user"}
    source, pattern, template = item.get("source"), item.get("pattern"), item.get("user")
    if unknown or not all(isinstance(v, str) for v in (source, pattern, template)):
        raise MappingConfigError("a regex user_mapping rule is a table {source, pattern, user} of strings")
    assert isinstance(source, str) and isinstance(pattern, str) and isinstance(template, str)
    if source not in SOURCES:
        raise MappingConfigError(f"regex rule source {source!r} unknown (known: {', '.join(SOURCES)})")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise MappingConfigError(f"regex rule pattern {pattern!r}: {exc}") from None
    return Rule("regex", source=source, pattern=compiled, template=template)


def subject_cn(subject: str | None) -> str | None:
    """The first CN of an RFC 4514 subject string (``CN=alice,O=Example`` → ``alice``)."""
    if not subject:
        return None
    for part in re.split(r"(?<!\\),", subject):
        key, sep, value = part.strip().partition("=")
        if sep and key.strip().upper() == "CN":
            return re.sub(r"\\(.)", r"\1", value.strip())
    return None


def _split_at(value: str) -> tuple[str, str] | None:
    local, sep, domain = value.rpartition("@")
    return (local, domain) if sep and local and domain else None


def _source_value(identity: Identity, source: str) -> str | None:
    by = identity.mapped_by or ""
    if source == "subject":
        return identity.subject
    if source == "cn":
        return subject_cn(identity.subject) or (identity.user if by == "cn" else None)
    if source == "user":
        return identity.user
    return identity.user if by == source else None


def _apply(rule: Rule, identity: Identity) -> str | None:
    if rule.kind == "basic":
        if identity.source != "basic" or not identity.user:
            return None
        user = identity.user.split("\\")[-1]
        return None if "@" in user else user  # realm added by the caller
    if rule.kind in ("upn-san", "email-san"):
        value = _source_value(identity, "upn" if rule.kind == "upn-san" else "email")
        parts = _split_at(value) if value else None
        return f"{parts[0]}@{parts[1].upper()}" if parts else None
    if rule.kind == "email-san@":
        value = _source_value(identity, "email")
        parts = _split_at(value) if value else None
        return f"{parts[0]}@{rule.realm}" if parts else None
    if rule.kind == "subject-cn@":
        cn = _source_value(identity, "cn")
        return f"{cn}@{rule.realm}" if cn else None
    assert rule.pattern is not None and rule.template is not None and rule.source is not None
    value = _source_value(identity, rule.source)
    match = rule.pattern.search(value) if value else None
    if match is None:
        return None
    try:
        return rule.template.format(match.group(0), *match.groups(""), **match.groupdict(""))
    except (IndexError, KeyError):
        return None


def valid_principal(principal: str) -> bool:
    parts = _split_at(principal)
    return parts is not None and bool(_NAME.fullmatch(parts[0])) and bool(_REALM.fullmatch(parts[1]))


def map_user(rules: tuple[Rule, ...], identity: Identity, realm: str) -> Mapped:
    """The principal for ``identity``; :class:`UnmappedUser` naming what was tried."""
    if identity.user is None and identity.subject is None:
        raise UnmappedUser("the request carries no identity (no client certificate, no logon)")
    ordered = rules if any(r.kind == "basic" for r in rules) else (*rules, Rule("basic"))
    refused = []
    for rule in ordered:
        value = _apply(rule, identity)
        if value is None:
            continue
        if "@" not in value:
            value = f"{value}@{realm}"
        if not valid_principal(value):
            refused.append(f"{rule.label} gave {value!r}")
            continue
        return Mapped(value, rule.label)
    tried = ", ".join(r.label for r in ordered)
    extra = f"; refused: {'; '.join(refused)}" if refused else ""
    raise UnmappedUser(f"no user_mapping rule applies to {identity.user or identity.subject!r} "
                       f"(mapped by {identity.mapped_by or '-'}; tried {tried}){extra}")
