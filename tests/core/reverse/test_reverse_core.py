"""Pure decisions of the reverse proxy: route matching, traversal refusal, identity mapping
(with the UPN otherName DER fuzzed), certificate judgement, revocation combination, lint rules,
and the configuration loader's one-line errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.core.reverse.clientcert import judge_certificate, route_decision
from bridgehead.core.reverse.identity import DerError, der_utf8_string, map_identity
from bridgehead.core.reverse.lint import RouteFacts, lint
from bridgehead.core.reverse.model import (
    Backend,
    ClientCert,
    FailMode,
    Fallback,
    IdentityRule,
    Mode,
    Restrictions,
    Route,
)
from bridgehead.core.reverse.revocation import SourceResult, decide, is_fresh
from bridgehead.core.reverse.routes import PathRefused, match, passthrough_for, request_path
from bridgehead.runtime.reverse.config import ConfigError, parse
from tests.support.pki import TestCA

NOW = dt.datetime.now(dt.UTC)


def _route(name: str, hosts: tuple[str, ...], paths: tuple[str, ...] = (), mode: Mode = Mode.REENCRYPT,
           **kw: object) -> Route:
    return Route(name=name, listener="edge", hosts=hosts, paths=paths, mode=mode,
                 backend=Backend("https", "ex01.internal.test", 443), **kw)  # type: ignore[arg-type]


def test_longest_prefix_case_insensitive_and_exact_host_first() -> None:
    routes = [_route("all", ("mail.example.test",)), _route("ews", ("mail.example.test",), ("/EWS/",)),
              _route("mrs", ("mail.example.test",), ("/EWS/mrsproxy.svc",)), _route("wild", ("*.example.test",),
                                                                                     ("/EWS/",))]
    assert match(routes, "mail.example.test:443", "/ews/Exchange.asmx").name == "ews"  # type: ignore[union-attr]
    assert match(routes, "MAIL.example.test", "/EWS/mrsproxy.svc?x=1").name == "mrs"  # type: ignore[union-attr]
    assert match(routes, "mail.example.test", "/owa/").name == "all"  # type: ignore[union-attr]
    assert match(routes, "other.example.test", "/EWS/x").name == "wild"  # type: ignore[union-attr]
    assert match(routes, "example.test", "/EWS/x") is None
    assert match([_route("owa", ("h",), ("/owa/",))], "h", "/owa").name == "owa"  # type: ignore[union-attr]
    assert match([_route("ews", ("h",), ("/EWS",))], "h", "/EWSX") is not None  # plain prefix as configured


@pytest.mark.parametrize("target", ["/EWS/../owa/", "/EWS/%2e%2e/owa/", "/EWS/..%2Fowa", "/a\\b", "/x/./y",
                                    "/%252e", "*", "owa"])
def test_traversal_and_odd_targets_are_refused(target: str) -> None:
    with pytest.raises(PathRefused):
        request_path(target)


def test_passthrough_by_sni() -> None:
    routes = [_route("p", ("*.example.test",), mode=Mode.PASSTHROUGH), _route("q", ("mrs.example.test",),
                                                                               mode=Mode.PASSTHROUGH)]
    assert passthrough_for(routes, "mrs.example.test").name == "q"  # type: ignore[union-attr]
    assert passthrough_for(routes, "x.example.test").name == "p"  # type: ignore[union-attr]
    assert passthrough_for(routes, None) is None


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_der_utf8_string_never_crashes(data: bytes) -> None:
    try:
        der_utf8_string(data)
    except DerError:
        pass


def test_der_utf8_string_known_good() -> None:
    assert der_utf8_string(b"\x0c\x05alice") == "alice"
    long = "a" * 200
    assert der_utf8_string(b"\x0c\x81\xc8" + long.encode()) == long
    with pytest.raises(DerError):
        der_utf8_string(b"\x0c\x81\x05alice")  # non-minimal length


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("core-pki"), "Company Device CA")


def test_identity_order_and_rules(ca: TestCA) -> None:
    alice = ca.issue("a", cn="Alice Device", client=True, server=False, upn="alice@EXAMPLE.TEST",
                     emails=["alice@example.test"]).certificate
    assert map_identity(alice, ("upn", "email", "cn")).user == "alice@EXAMPLE.TEST"
    assert map_identity(alice, ("email", "upn")).user == "alice@example.test"
    assert map_identity(alice, ("cn",)).user == "Alice Device"
    rule = IdentityRule("subject", r"CN=(?P<first>\w+) Device", "CORP\\{first}")
    ident = map_identity(alice, ("upn",), (rule,))
    assert ident.user == "CORP\\Alice" and ident.mapped_by == "rule:1" and ident.subject == "CN=Alice Device"


def test_judgement_codes(ca: TestCA) -> None:
    good = ca.issue("g", client=True, server=False).certificate
    assert judge_certificate(good, [], Restrictions(), NOW).ok
    assert judge_certificate(good, [(0, 20)], Restrictions(), NOW).code == "edge-client-cert-untrusted"
    assert judge_certificate(good, [(0, 10)], Restrictions(), NOW).code == "edge-client-cert-expired"
    old = ca.issue("o", client=True, server=False, days=-3).certificate
    assert judge_certificate(old, [], Restrictions(), NOW).code == "edge-client-cert-expired"
    server = ca.issue("s", client=False, server=True).certificate
    assert judge_certificate(server, [(0, 26)], Restrictions(), NOW).code == "edge-client-cert-not-acceptable"
    assert judge_certificate(good, [], Restrictions(issuers=("CN=Other CA",)), NOW).code == \
        "edge-client-cert-not-acceptable"
    assert judge_certificate(good, [], Restrictions(issuers=("cn=company device ca",)), NOW).ok


def test_route_decisions() -> None:
    required = _route("r", ("h",), client_certificate=ClientCert.REQUIRED)
    assert route_decision(required, False, None).code == "edge-client-cert-missing"
    basic = _route("b", ("h",), client_certificate=ClientCert.REQUIRED, fallback=Fallback.BASIC)
    assert route_decision(basic, False, None).action == "challenge-basic"
    optional = _route("o", ("h",), client_certificate=ClientCert.OPTIONAL)
    assert route_decision(optional, False, None).action == "pass"
    assert route_decision(_route("off", ("h",)), True, None).action == "pass"


def test_revocation_combination_and_freshness() -> None:
    good, revoked = SourceResult("crl:a", "good", ""), SourceResult("ocsp:b", "revoked", "since x")
    unknown = SourceResult("crl:c", "unknown", "unreachable")
    assert decide([good, revoked], FailMode.OPEN)[0] == "edge-client-cert-revoked"
    assert decide([good, unknown], FailMode.CLOSED)[0] is None
    assert decide([unknown], FailMode.CLOSED)[0] == "edge-revocation-unavailable"
    assert decide([unknown], FailMode.OPEN)[2] is True
    assert is_fresh(100.0, 100.9, 1.0, None, NOW) and not is_fresh(100.0, 101.1, 1.0, None, NOW)
    assert not is_fresh(100.0, 100.1, None, NOW - dt.timedelta(seconds=1), NOW)


def _config(tmp_path: Path, text: str) -> object:
    import tomllib

    return parse(tomllib.loads(text), tmp_path / "r.toml", check_files=False)


BASE = '[[listener]]\nname = "edge"\nlisten = "127.0.0.1:8443"\ncertificates = [{ cert = "e.pem", key = "e.key" }]\n'


def test_lint_rules(tmp_path: Path) -> None:
    text = BASE.replace('certificates', 'revocation = { crl = ["c.crl"] }\ncertificates') + (
        '[[route]]\nname = "eas"\nhosts = ["m"]\nmode = "reencrypt"\nbackend = "https://ex01:443"\n'
        'client_certificate = "required"\nbackend_client_certificate = "require"\n'
        'backend_extended_protection = "allow"\n'
        '[[route]]\nname = "ews"\nhosts = ["m"]\npaths = ["/EWS/"]\nmode = "offload"\nbackend = "http://ex01"\n')
    config = _config(tmp_path, text)
    findings = lint(config, {"eas": RouteFacts(same_certificate=False)})  # type: ignore[arg-type]
    codes = {(f.subject, f.code) for f in findings if f.severity == "error"}
    assert ("listener edge", "listener-no-trust-list") in codes
    assert ("listener edge", "revocation-no-max-age") in codes
    assert ("route eas", "route-backend-requires-client-cert") in codes
    assert ("route eas", "route-ep-cert-mismatch") in codes
    assert ("route ews", "route-offload-oauth") in codes
    same = lint(config, {"eas": RouteFacts(same_certificate=True)})  # type: ignore[arg-type]
    assert ("route eas", "route-ep-cert-mismatch") not in {(f.subject, f.code) for f in same}


@pytest.mark.parametrize("snippet,message", [
    ('[[route]]\nhosts = ["m"]\nmode = "reencrypt"\nbackend = "http://x"\n', "reencrypt needs an https"),
    ('[[route]]\nhosts = ["m"]\nmode = "passthrough"\npaths = ["/a/"]\nbackend = "https://x"\n', "SNI only"),
    ('[[route]]\nhosts = ["m"]\nmode = "teleport"\nbackend = "https://x"\n', "mode must be"),
    ('[[route]]\nhosts = ["m"]\nbackend = "https://x"\nidentity = "magic"\n', "identity must be"),
    ('[[route]]\nhosts = ["m"]\nbackend = "https://x"\nfallback = "basic"\n', "basic_users"),
    ('[[route]]\nhosts = ["m"]\nbackend = "https://x/path"\n', "without a path"),
    ('[[route]]\nhosts = ["m"]\nbackend = "https://x"\ncolour = "red"\n', "unknown setting"),
])
def test_config_errors_are_one_line(tmp_path: Path, snippet: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, BASE + snippet)


def test_kerberos_table_is_kept_uninterpreted(tmp_path: Path) -> None:
    config = _config(tmp_path, BASE + '[[route]]\nhosts = ["m"]\nbackend = "https://x"\nidentity = "kerberos"\n'
                     '[route.kerberos]\nspn = "http/ex01"\nanything = [1, 2]\n')
    assert config.routes[0].kerberos == {"spn": "http/ex01", "anything": [1, 2]}  # type: ignore[attr-defined]
