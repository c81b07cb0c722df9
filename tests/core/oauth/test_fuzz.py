"""Hostile tokens through describe(), summarize() and the validator: a value, never an exception."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.core.oauth.describe import DescribeError, describe, summarize
from bridgehead.core.oauth.validator import validate
from bridgehead.wire.jwt import b64url_encode

from .conftest import NOW

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
claims = st.dictionaries(
    st.sampled_from(
        ["aud", "iss", "nbf", "exp", "nameid", "smtp", "actortoken", "trustedfordelegation", "x"]
    ),
    json_values,
    max_size=8,
)
headers = st.dictionaries(st.sampled_from(["alg", "x5t", "typ", "kid"]), json_values, max_size=4)


def seg(obj: object) -> str:
    return b64url_encode(json.dumps(obj).encode())


@st.composite
def tokens(draw):
    inner = draw(claims)
    if draw(st.booleans()):
        inner["actortoken"] = (
            f"{seg(draw(headers))}.{seg(draw(claims))}.{b64url_encode(draw(st.binary(max_size=8)))}"
        )
    return f"{seg(draw(headers))}.{seg(inner)}.{b64url_encode(draw(st.binary(max_size=8)))}"


@settings(max_examples=250, deadline=None)
@given(tokens(), st.sampled_from([None, "owa.example.test", "", "[::1]:443"]))
def test_validator_never_raises(policy, token, host):
    out = validate(f"Bearer {token}", host=host, scheme="https", policy=policy, now=NOW)
    assert out.status == 401 and out.diagnostic is not None
    assert "\n" not in out.diagnostic.header and "\r" not in out.diagnostic.header


@settings(max_examples=250, deadline=None)
@given(st.one_of(tokens(), st.text(max_size=200)))
def test_describe_and_summarize_never_raise(text):
    line = summarize(text)
    assert "\n" not in line
    try:
        describe(text, at_host="owa.example.test", now=NOW)
    except DescribeError:
        pass
