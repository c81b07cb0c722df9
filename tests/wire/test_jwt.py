"""Compact JWT helpers: against PyJWT as the independent implementation, and fuzzed."""

from __future__ import annotations

import jwt as pyjwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.wire.jwt import JwtFormatError, b64url_encode, decode, encode_unsigned, strip_bearer


def test_decodes_pyjwt_token():
    token = pyjwt.encode({"aud": "x", "n": 1}, "k" * 32, algorithm="HS256", headers={"x5t": "abc"})
    jwt = decode(token)
    assert jwt.claims == {"aud": "x", "n": 1} and jwt.alg == "HS256" and jwt.x5t == "abc"
    assert len(jwt.signature) == 32


def test_unsigned_roundtrip_readable_by_pyjwt():
    token = encode_unsigned({"alg": "none", "typ": "JWT"}, {"a": "b"})
    assert token.endswith(".")
    assert pyjwt.decode(token, options={"verify_signature": False}) == {"a": "b"}
    assert decode(token).signature == b""


@pytest.mark.parametrize("text", ["Bearer abc", "bearer+abc", "Authorization: Bearer abc", "  abc  "])
def test_strip_bearer(text):
    assert strip_bearer(text) == "abc"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a",
        "a.b",
        "a.b.c.d",
        ".e30.",
        "e30..",
        "e30.W10.",
        "e30.e30.***",
        b64url_encode(b"\xff") + ".e30.",
        "e30.e30.A",
        "x" * 70000,
    ],
)
def test_bad_tokens_one_error(bad):
    with pytest.raises(JwtFormatError):
        decode(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_text(text):
    try:
        decode(text)
    except JwtFormatError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200), st.binary(max_size=64))
def test_fuzz_segments(h, p, s):
    token = ".".join(b64url_encode(x) for x in (h, p, s))
    try:
        jwt = decode(token)
    except JwtFormatError:
        return
    assert isinstance(jwt.header, dict) and isinstance(jwt.claims, dict) and jwt.signature == s
