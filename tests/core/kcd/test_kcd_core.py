"""Pure parts of Kerberos constrained delegation: SPN templates, user mapping, cache policy, diagnosis."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridgehead.core.kcd.cache import CachePolicy, CredentialCache
from bridgehead.core.kcd.config import KerberosConfigError, parse_settings
from bridgehead.core.kcd.diagnose import classify, clock_skew, short
from bridgehead.core.kcd.mapping import MappingConfigError, UnmappedUser, map_user, parse_rules, subject_cn
from bridgehead.core.kcd.spn import SpnError, alternative_spns, render_spn, spn_principal, spn_warnings
from bridgehead.core.reverse.model import Identity
from bridgehead.failures import REGISTRY

# --- SPN templates ------------------------------------------------------------------------------


def test_spn_template_uses_http_class_and_host() -> None:
    assert render_spn("HTTP/{backend_host}", "exch01.corp.example") == "HTTP/exch01.corp.example"
    assert render_spn("HTTP/{backend_short}", "exch01.corp.example") == "HTTP/exch01"
    assert render_spn("HTTP/{backend_host}:{backend_port}", "a.example", 8443) == "HTTP/a.example:8443"
    assert spn_principal("HTTP/a.example", "CORP.EXAMPLE") == "HTTP/a.example@CORP.EXAMPLE"


@pytest.mark.parametrize("template", ["HTTP/{host}", "HTTP/{backend_host!r}", "HTTP/{0}", "{backend_host}",
                                      "HTTP/{backend_host} x", "HTTP/{backend_host}\n"])
def test_bad_spn_templates_are_refused(template: str) -> None:
    with pytest.raises(SpnError):
        render_spn(template, "backend.example.test")


def test_spn_hints() -> None:
    assert any("https" in w for w in spn_warnings("https/backend.example.test", "backend.example.test"))
    assert any("FQDN" in w for w in spn_warnings("HTTP/backend", "backend.example.test"))
    assert spn_warnings("HTTP/backend.example.test", "backend.example.test") == []
    assert alternative_spns("HTTP/backend.example.test", "backend.example.test") == ["HTTP/backend"]


# --- user mapping -------------------------------------------------------------------------------

RULES = parse_rules(["upn-san", "email-san", "subject-cn@EXAMPLE.TEST"], "EXAMPLE.TEST")


@pytest.mark.parametrize(("identity", "principal", "rule"), [
    (Identity("alice@example.test", "certificate", "upn", "CN=Alice"), "alice@EXAMPLE.TEST", "upn-san"),
    (Identity("bob@corp.example", "certificate", "email", "CN=Bob"), "bob@CORP.EXAMPLE", "email-san"),
    (Identity("carol", "certificate", "cn", "CN=carol,O=Example"), "carol@EXAMPLE.TEST", "subject-cn@EXAMPLE.TEST"),
    (Identity("CORP\\dave", "basic", "basic"), "dave@EXAMPLE.TEST", "basic"),
])
def test_mapping_rules_in_order(identity: Identity, principal: str, rule: str) -> None:
    mapped = map_user(RULES, identity, "EXAMPLE.TEST")
    assert (mapped.principal, mapped.rule) == (principal, rule)


def test_email_local_part_and_regex_rules() -> None:
    rules = parse_rules(["email-san@EXAMPLE.TEST",
                         {"source": "subject", "pattern": r"OU=Staff.*CN=(?P<u>\w+)|CN=(\w+),OU=Staff",
                          "user": "{u}{2}@EXAMPLE.TEST"}], "EXAMPLE.TEST")
    assert map_user(rules, Identity("eve@mail.other.example", "certificate", "email"),
                    "EXAMPLE.TEST").principal == "eve@EXAMPLE.TEST"
    mapped = map_user(rules, Identity(None, "certificate", None, "CN=frank,OU=Staff,O=Example"), "EXAMPLE.TEST")
    assert mapped == type(mapped)("frank@EXAMPLE.TEST", "regex:subject")


@pytest.mark.parametrize("identity", [
    Identity(None, "certificate", None, "CN=krbtgt/EXAMPLE.TEST"),  # a service principal: never
    Identity(None, "certificate", None, "CN=HTTP/backend.example.test"),
    Identity(None, "certificate", None, "CN=a b"),
    Identity(None),
    Identity("x@example.test", "certificate", "email", None),  # email only; rules want upn or cn
])
def test_unmappable_identities_are_refused(identity: Identity) -> None:
    rules = parse_rules(["upn-san", "subject-cn@EXAMPLE.TEST"], "EXAMPLE.TEST")
    with pytest.raises(UnmappedUser):
        map_user(rules, identity, "EXAMPLE.TEST")


@pytest.mark.parametrize("items", [[], "upn-san", ["upn"], ["subject-cn@bad realm"], [{"source": "upn"}],
                                   [{"source": "dn", "pattern": "x", "user": "y"}],
                                   [{"source": "upn", "pattern": "(", "user": "y"}], [3]])
def test_bad_mapping_rules(items: object) -> None:
    with pytest.raises(MappingConfigError):
        parse_rules(items, "EXAMPLE.TEST")


def test_subject_cn_handles_escapes() -> None:
    assert subject_cn(r"CN=Smith\, John,O=Example") == "Smith, John"
    assert subject_cn("O=Example") is None


@settings(max_examples=200, deadline=None)
@given(user=st.one_of(st.none(), st.text(max_size=40)), by=st.sampled_from([None, "upn", "email", "cn", "basic"]),
       subject=st.one_of(st.none(), st.text(max_size=60)))
@example(user="0\n", by="cn", subject=None)  # Python's "$" matches before a final newline: fullmatch only
def test_mapping_never_yields_a_non_user_principal(user: str | None, by: str | None, subject: str | None) -> None:
    identity = Identity(user, "basic" if by == "basic" else "certificate", by, subject)
    try:
        mapped = map_user(RULES, identity, "EXAMPLE.TEST")
    except UnmappedUser:
        return
    name, _, realm = mapped.principal.rpartition("@")
    assert name and realm and "/" not in name and "@" not in name and not any(c.isspace() for c in name)


# --- cache policy -------------------------------------------------------------------------------


def test_cache_hits_until_shortly_before_expiry() -> None:
    cache: CredentialCache[str] = CredentialCache(CachePolicy(refresh_before=300))
    assert cache.get("alice@R", "HTTP/b@R", 0) is None
    assert cache.put("alice@R", "HTTP/b@R", "creds", obtained_at=0, expires_at=36000)
    assert cache.get("ALICE@R", "HTTP/b@R", 35699) == "creds"
    assert cache.get("alice@R", "HTTP/b@R", 35700) is None  # 300 s before expiry: fetch a new one
    assert (cache.stats.hits, cache.stats.misses, cache.stats.expired) == (1, 2, 1)


def test_cache_short_lifetimes_lru_and_off() -> None:
    policy = CachePolicy(refresh_before=300, max_entries=2)
    cache: CredentialCache[int] = CredentialCache(policy)
    cache.put("a@R", "s", 1, 0, 120)  # 2-minute ticket: usable for 60 s
    assert cache.get("a@R", "s", 59) == 1 and cache.get("a@R", "s", 60) is None
    for i, user in enumerate(("a@R", "b@R", "c@R")):
        cache.put(user, "s", i, 0, 3600)
    assert len(cache) == 2 and cache.get("a@R", "s", 1) is None and cache.stats.evicted == 1
    off: CredentialCache[int] = CredentialCache(CachePolicy(enabled=False))
    assert not off.put("a@R", "s", 1, 0, 3600)


# --- settings -----------------------------------------------------------------------------------

GOOD = {"principal": "HTTP/proxy.example.test@EXAMPLE.TEST", "keytab": "proxy.keytab"}


def test_settings_defaults_and_relative_keytab(tmp_path: object) -> None:
    from pathlib import Path

    s = parse_settings(GOOD, Path("/etc/bh"))
    assert s.keytab == Path("/etc/bh/proxy.keytab") and s.realm == "EXAMPLE.TEST"
    assert s.spn_template == "HTTP/{backend_host}" and [r.label for r in s.rules] == [
        "upn-san", "email-san", "subject-cn@EXAMPLE.TEST"]


def test_send_is_not_an_option() -> None:
    # issue 16 item 3: the ticket goes with every request; no mode is parsed and then ignored
    for value in ("after-401", "always"):
        with pytest.raises(KerberosConfigError, match=r"kerberos\.send .*every request"):
            parse_settings({**GOOD, "send": value})


@pytest.mark.parametrize("table", [{}, {**GOOD, "principal": "HTTP/proxy"}, {**GOOD, "send": "never"},
                                   {**GOOD, "spn": "HTTP/{nope}"}, {**GOOD, "kdc_timeout": 0},
                                   {**GOOD, "cache": "yes"}, {**GOOD, "typo": 1},
                                   {"principal": GOOD["principal"]}, {**GOOD, "user_mapping": ["x"]}])
def test_bad_settings_name_the_key(table: dict[str, object]) -> None:
    with pytest.raises(KerberosConfigError):
        parse_settings(table)


# --- diagnosis ----------------------------------------------------------------------------------

GSS = "Major (851968): Unspecified GSS failure.  Minor code may provide more information, Minor (100006): "


@pytest.mark.parametrize(("text", "stage", "forwardable", "code"), [
    (GSS + "KDC can't fulfill requested option", "s4u2proxy", False, "kcd-protocol-transition-denied"),
    (GSS + "KDC can't fulfill requested option", "s4u2proxy", True, "kcd-spn-not-in-list"),
    (GSS + "KDC can't fulfill requested option", "s4u2proxy", None, "krb-badoption"),
    (GSS + "Client not found in Kerberos database", "s4u2self", None, "krb-client-unknown"),
    (GSS + "Server not found in Kerberos database", "spn", None, "krb-principal-unknown"),
    (GSS + "Cannot contact any KDC for requested realm", "s4u2self", None, "krb-kdc-unreachable"),
    ("Minor (2529638936): Preauthentication failed", "acquire", None, "krb-wrong-keytab"),
    ("Minor (2529639107): No credentials cache found", "acquire", None, "kcd-keytab-unusable"),
    (GSS + "Clock skew too great", "s4u2self", None, "krb-clock-skew"),
    ("Request is a replay", "backend", None, "krb-replay"),
    ("no answer within 2 s", "timeout", None, "krb-kdc-unreachable"),
    ("something else entirely", "s4u2self", None, "kcd-delegated-401-403"),
])
def test_classify_names_a_registry_code(text: str, stage: str, forwardable: bool | None, code: str) -> None:
    d = classify(text, stage, spn="HTTP/b@R", principal="HTTP/p@R", user="alice@R", evidence_forwardable=forwardable)
    assert d.code == code and d.code in REGISTRY and d.summary and d.fix


def test_badoption_without_flags_names_both_causes() -> None:
    d = classify("KDC can't fulfill requested option", "s4u2proxy")
    assert "not trusted for delegation" in d.summary and "delegation list" in d.summary
    assert "forwardable" in d.summary


def test_short_keeps_the_minor_text_and_skew() -> None:
    assert short(GSS + "Client not found") == "Client not found"
    assert clock_skew(1000, 1400) == (-400, False) and clock_skew(1000, 1100) == (-100, True)
