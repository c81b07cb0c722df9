"""Hypothesis fuzzing of every decoder: only their documented ValueError (or CliError) escapes."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridgehead.cli.common import CliError
from bridgehead.cli.decode_cmd import DecodeContext, decode_value
from bridgehead.wire import kerberos_apreq, spnego
from bridgehead.wire import ntlm as wire_ntlm

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ntlm_like = st.builds(lambda t, body: wire_ntlm.SIGNATURE + bytes([t, 0, 0, 0]) + body,
                      st.integers(0, 4), st.binary(max_size=300))


@FUZZ
@given(st.one_of(st.binary(max_size=300), ntlm_like))
def test_ntlm_decoder(data: bytes) -> None:
    try:
        wire_ntlm.decode(data)
    except wire_ntlm.NtlmDecodeError:
        pass


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.binary(max_size=200).map(lambda b: b"\x60" + bytes([len(b) % 128]) + b),
                 st.binary(max_size=200).map(lambda b: b"\xa1" + bytes([len(b) % 128]) + b)))
def test_spnego_and_kerberos_decoders(data: bytes) -> None:
    try:
        spnego.decode(data)
    except spnego.SpnegoDecodeError:
        pass
    try:
        kerberos_apreq.decode_gss_krb5(data)
    except kerberos_apreq.KerberosDecodeError:
        pass


@FUZZ
@given(st.sampled_from(["NTLM ", "Negotiate ", "Basic ", "Authorization: NTLM ", ""]),
       st.one_of(st.binary(max_size=200), ntlm_like))
def test_cli_decode_value(prefix: str, data: bytes) -> None:
    try:
        decode_value(prefix + base64.b64encode(data).decode(), DecodeContext())
    except CliError:
        pass


@FUZZ
@given(st.binary(max_size=200))
def test_av_pairs(data: bytes) -> None:
    try:
        wire_ntlm.parse_av_pairs(data)
    except wire_ntlm.NtlmDecodeError:
        pass


def test_decode_garbage_is_one_line_exit_2() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "bridgehead", "decode", "%%% not a token"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("value", ["NTLM", "TlRMTVNTUAADAAAA"])
def test_decode_short_inputs(value: str) -> None:
    with pytest.raises(CliError):
        decode_value(value, DecodeContext())
