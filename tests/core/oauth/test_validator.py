"""The validator in-process: every check, the JWT attack set, exact Exchange header texts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization

from bridgehead.core.oauth.diagnostics import parse_challenge, parse_diagnostics
from bridgehead.core.oauth.mint import MintOptions, mint
from bridgehead.core.oauth.model import TrustPolicy, x5t_of
from bridgehead.core.oauth.validator import validate
from bridgehead.failures import get
from bridgehead.wire.jwt import b64url_encode, decode

from .conftest import ACS, NOW, REALM, Signer, make_signer

CHALLENGE = (
    'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
    f'trusted_issuers="00000002-0000-0ff1-ce00-000000000000@{REALM},{ACS}@{REALM}", '
    'token_types="app_asserted_user_v1 service_asserted_app_v1", '
    'authorization_uri="https://login.windows.net/common/oauth2/authorize"'
)


def run(
    token: str | None,
    policy: TrustPolicy,
    host: str | None = "owa.example.test",
    scheme: str = "https",
    now: dt.datetime = NOW,
):
    auth = None if token is None else f"Bearer {token}"
    return validate(auth, host=host, scheme=scheme, policy=policy, now=now)


def tok(signer: Signer, **kw: object) -> str:
    opts = MintOptions(**{"host": "owa.example.test", "realm": REALM, **kw})  # type: ignore[arg-type]
    return mint(opts, signer.key, signer.cert, NOW)


def refused(outcome, number: int, category: str) -> str:
    assert outcome.status == 401 and not outcome.ok
    headers = dict(outcome.headers)
    assert headers["WWW-Authenticate"] == CHALLENGE + ', error="invalid_token"'
    parsed = parse_diagnostics(headers["x-ms-diagnostics"])
    assert parsed is not None and parsed[0] == number and parsed[2] == category
    return headers["x-ms-diagnostics"]


def test_valid_token_accepted(signer, policy):
    out = run(tok(signer), policy)
    assert out.ok and out.status == 200 and out.headers == ()
    p = out.principal
    assert p.token_type == "app_asserted_user_v1" and p.user == "user1@example.test"
    assert p.actor == f"00000002-0000-0ff1-ce00-000000000000@{REALM}" and p.issuer_name == "AuthConfig"


def test_host_is_case_insensitive_and_default_port_ignored(signer, policy):
    assert run(tok(signer), policy, host="OWA.Example.TEST").ok
    assert run(tok(signer), policy, host="owa.example.test:443").ok
    assert run(tok(signer, host="owa.example.test:8443"), policy, host="owa.example.test:8443").ok
    assert not run(tok(signer, host="owa.example.test:8443"), policy, host="owa.example.test").ok


def test_acs_issued_actor_accepted(acs_signer, policy):
    out = run(tok(acs_signer, issuer=f"{ACS}@{REALM}"), policy)
    assert out.ok and out.principal.issuer_name == "EvoSts"


def test_anonymous_gets_challenge_without_error(policy):
    out = run(None, policy)
    assert out.status == 401 and out.diagnostic is None
    assert out.headers == (("WWW-Authenticate", CHALLENGE),)
    assert parse_challenge(CHALLENGE)["trusted_issuers"].endswith(f"{ACS}@{REALM}")


def test_wrong_audience_host_exact_2000003(signer, policy):
    header = refused(run(tok(signer, host="hybrid.example.test"), policy), 2000003, "invalid_resource")
    assert header == (
        '2000003;reason="The hostname component of the audience claim value is invalid. '
        "Expected 'owa.example.test'. Actual 'hybrid.example.test'.\";"
        'error_category="invalid_resource"'
    )


def test_missing_host_2000003_without_expected(signer, policy):
    out = run(tok(signer, host="https://owa.example.test"), policy, host=None)
    header = refused(out, 2000003, "invalid_resource")
    assert header == (
        '2000003;reason="The hostname component of the audience claim value '
        '\'https://owa.example.test\' is invalid";error_category="invalid_resource"'
    )
    assert out.diagnostic.code == "oauth-host-header-missing"


def test_https_audience_over_http_fails(signer, policy):
    token = tok(signer, host="https://owa.example.test")
    assert run(token, policy).ok
    header = refused(run(token, policy, scheme="http"), 2000003, "invalid_resource")
    assert "Expected 'http://owa.example.test'. Actual 'https://owa.example.test'." in header


def test_http_audience_over_https_fails(signer, policy):
    refused(run(tok(signer, host="http://owa.example.test"), policy), 2000003, "invalid_resource")


def test_unknown_issuer_2000009(policy):
    stranger = make_signer("tenant1")
    other = f"{ACS}@f31f3647-5d87-4b69-a0b6-73f62aeab14c"
    header = refused(run(tok(stranger, issuer=other), policy), 2000009, get("oauth-unknown-issuer").category)
    assert header == (
        f"2000009;reason=\"The issuer of the token is unknown. Issuer was '{other}'.\";"
        f'error_category="{get("oauth-unknown-issuer").category}"'
    )


def test_expired_2000002(signer, policy):
    header = refused(run(tok(signer, expired=True), policy), 2000002, "token_expired")
    assert "The token has expired." in header


def test_skew_tolerated(signer, policy):
    token = tok(signer, lifetime=60)
    assert run(token, policy, now=NOW + dt.timedelta(seconds=60 + 299)).ok
    refused(run(token, policy, now=NOW + dt.timedelta(seconds=60 + 301)), 2000002, "token_expired")


def test_not_yet_valid_2000001(signer, policy):
    header = refused(run(tok(signer, not_yet_valid=True), policy), 2000001, "invalid_token")
    assert "not yet valid" in header


def test_bad_signature_2000000(signer, policy):
    refused(run(tok(signer, bad_signature=True), policy), 2000000, "invalid_signature")


def test_alg_none_actor_refused(signer, policy):
    header = refused(run(tok(signer, alg="none"), policy), 2000000, "invalid_signature")
    assert "algorithm 'none' is not accepted" in header


def test_hs256_with_public_key_as_secret_refused(signer, policy):
    token = tok(signer, alg="HS256")
    actor = decode(decode(token).claims["actortoken"])
    # the attack token really is HMAC-SHA256 under the public key PEM: an independent check
    secret = signer.cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert actor.signature == hmac.new(secret, actor.signing_input, hashlib.sha256).digest()
    refused(run(token, policy), 2000000, "invalid_signature")
    # and an HS256-allowing policy still cannot be tricked: PyJWT refuses an RSA key as HMAC secret
    lax = dataclasses.replace(policy, algorithms=("RS256", "HS256"))
    refused(run(token, lax), 2000000, "invalid_signature")


def test_unknown_x5t_refused(signer, policy):
    header = refused(run(tok(signer, x5t=b64url_encode(b"\x00" * 20)), policy), 2000000, "invalid_signature")
    assert "AAAAAAAAAAAAAAAAAAAAAAAAAAA" in header


def test_key_of_other_issuer_refused(signer, acs_signer, policy):
    # ACS-signed actor claiming the self issuer: x5t of ACS is not among the self issuer's keys
    refused(run(tok(acs_signer), policy), 2000000, "invalid_signature")


def test_outer_iss_must_match_actor_nameid(signer, policy):
    header = refused(run(tok(signer, outer_issuer=f"evil@{REALM}"), policy), 2000001, "invalid_token")
    assert "does not match the nameid of the actor token" in header


def test_actor_not_trusted_for_delegation(signer, policy):
    refused(run(tok(signer, trusted_for_delegation=False), policy), 2000006, "invalid_client")


def test_app_only_token_accepted(signer, policy):
    out = run(tok(signer, user=None), policy)
    assert out.ok and out.principal.token_type == "service_asserted_app_v1" and out.principal.user is None


def test_realm_mismatch_2000004(acs_signer, policy):
    token = mint(
        MintOptions(host="owa.example.test", realm="fabrikam.test", issuer=f"{ACS}@{REALM}"),
        acs_signer.key,
        acs_signer.cert,
        NOW,
    )
    refused(run(token, policy), 2000004, "invalid_tenant")


def test_other_service_audience_2000003(signer, policy):
    token = tok(signer, audience_app="00000003-0000-0ff1-ce00-000000000000")
    assert "application identifier component" in refused(run(token, policy), 2000003, "invalid_resource")


def test_known_users_2000005(signer, policy):
    strict = dataclasses.replace(policy, known_users=frozenset({"alice@example.test"}))
    assert run(tok(signer, user="alice@example.test"), strict).ok
    header = refused(run(tok(signer, user="ghost@example.test"), strict), 2000005, "invalid_user")
    assert "does not exist" in header


@pytest.mark.parametrize("garbage", ["x", "a.b", "eyJ.eyJ.", "e30.e30.e30.e30", "Zm9v.YmFy.", "!!.!!.!!"])
def test_malformed_2000001(garbage, policy):
    refused(run(garbage, policy), 2000001, "invalid_token")


def test_signed_outer_with_actor_refused(signer, policy):
    good = decode(tok(signer))
    signed_outer = pyjwt.encode(good.claims, signer.key, algorithm="RS256")
    refused(run(signed_outer, policy), 2000001, "invalid_token")


def test_pyjwt_verifies_minted_actor_independently(signer):
    actor = decode(tok(signer)).claims["actortoken"]
    claims = pyjwt.decode(
        actor,
        signer.cert.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_nbf": False, "verify_aud": False},
    )
    assert claims["nameid"] == f"00000002-0000-0ff1-ce00-000000000000@{REALM}"
    assert pyjwt.get_unverified_header(actor)["x5t"] == x5t_of(signer.cert)


def test_2000003_expected_is_host_name_without_request_port(signer, policy):
    # issue 16 item 1: through a non-default port the reason names the host alone
    header = refused(run(tok(signer), policy, host="hybrid.example.test:60543"), 2000003, "invalid_resource")
    assert "Expected 'hybrid.example.test'. Actual 'owa.example.test'." in header
    # an audience that names a port is compared with the port, so Expected shows the request's port
    header = refused(
        run(tok(signer, host="owa.example.test:8443"), policy, host="owa.example.test"), 2000003, "invalid_resource"
    )
    assert "Expected 'owa.example.test:443'. Actual 'owa.example.test:8443'." in header


def test_expected_audience_host_is_host_name_without_port():
    from bridgehead.core.oauth.model import expected_audience_host

    assert expected_audience_host("Hybrid.Example.Test:60543", "owa.example.test", "https") == "hybrid.example.test"
    assert expected_audience_host("[::1]:8443", "owa.example.test", "https") == "[::1]"
    assert expected_audience_host("owa.example.test", "owa.example.test:8443", "https") == "owa.example.test:443"


def test_decode_at_reason_names_host_without_port(signer):
    from bridgehead.core.oauth.describe import audience_check

    check = audience_check(decode(tok(signer)), "hybrid.example.test:60543")
    assert not check["fits"]
    assert check["reason"] == (
        "Exchange would answer 2000003: Expected 'hybrid.example.test'. Actual 'owa.example.test'."
    )
