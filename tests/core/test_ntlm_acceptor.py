"""NTLM acceptor: MS-NLMP §4.2.4 known answers, the Windows EP decision table, and the
acceptor against pyspnego as an independent client (in memory: the acceptor is sans-I/O)."""

from __future__ import annotations

import struct

import pytest
import spnego
from spnego.channel_bindings import GssChannelBindings

from bridgehead.core.channel_binding import application_data, ntlm_binding_hash
from bridgehead.core.ntlm.acceptor import NegotiateAcceptor, NtlmAcceptor
from bridgehead.core.ntlm.policy import EpFlags, EpPolicy, TokenChecking, evaluate, spn_allowed
from bridgehead.core.ntlm.users import UserStore
from bridgehead.wire import ntlm as wire_ntlm
from bridgehead.wire.pyspnego_private import Authenticate, FileTime, hmac_md5, ntowfv1, ntowfv2

# MS-NLMP §4.2.1 inputs and §4.2.4 results (as also carried by Chromium's ntlm_test_data.h).
SERVER_CHALLENGE = bytes.fromhex("0123456789abcdef")
NTOWFV2 = bytes.fromhex("0c868a403bfd7a93a3001ef22ef02e3f")
PROOF = bytes.fromhex("68cd0ab851e51c96aabc927bebef6a1c")
SESSION_BASE_KEY = bytes.fromhex("8de40ccadbc14a82f15cb0ad0de95ca3")
TARGET_INFO = bytes.fromhex("02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000")
TEMP = bytes.fromhex("0101000000000000" "0000000000000000" "aaaaaaaaaaaaaaaa" "00000000") + TARGET_INFO + b"\0" * 4
# Chromium: target info with MsvAvFlags(MIC), MsvAvChannelBindings and MsvAvTargetName "HTTP/Server"
EPA_TARGET_INFO = b"".join(
    struct.pack("<HH", av_id, len(value)) + value
    for av_id, value in (
        (2, "Domain".encode("utf-16-le")),
        (1, "Server".encode("utf-16-le")),
        (6, struct.pack("<I", 2)),
        (10, bytes.fromhex("6586e99d81c2fc984e47172fd4dd0310")),
        (9, "HTTP/Server".encode("utf-16-le")),
        (0, b""),
    )
)
EPA_PROOF = bytes.fromhex("010c0bd14ef7a29689c0c19ceae8b7df")


def test_ms_nlmp_4_2_4_ntowfv2_proof_and_session_key() -> None:
    key = ntowfv2("User", ntowfv1("Password"), "Domain")
    assert key == NTOWFV2
    assert hmac_md5(key, SERVER_CHALLENGE + TEMP) == PROOF
    assert hmac_md5(key, PROOF) == SESSION_BASE_KEY


def test_chromium_epa_target_info_proof_and_binding() -> None:
    head = bytes.fromhex("0101000000000000" "0000000000000000" "aaaaaaaaaaaaaaaa" "00000000")
    temp = head + EPA_TARGET_INFO + b"\0" * 4
    assert hmac_md5(NTOWFV2, SERVER_CHALLENGE + temp) == EPA_PROOF
    blob = wire_ntlm.parse_v2_blob(EPA_PROOF + temp)
    info = wire_ntlm.binding_info(blob.av_pairs)
    assert info.status == "value" and info.hex == "6586e99d81c2fc984e47172fd4dd0310"
    assert [p.name for p in blob.av_pairs][-1] == "MsvAvTargetName" and blob.av_pairs[-1].text() == "HTTP/Server"


def _spec_acceptor(policy: EpPolicy, expected: bytes | None = None) -> NtlmAcceptor:
    users = UserStore.from_lines(["Domain:User:Password"])
    acc = NtlmAcceptor(users, policy, expected_binding=expected, random=lambda n: SERVER_CHALLENGE,
                       now=_at(0))  # the spec's response carries TimeStamp 0
    negotiate = wire_ntlm.decode(bytes(spnego.client("Domain\\User", "Password", protocol="ntlm").step()))
    acc.challenge(negotiate)
    return acc


def test_acceptor_accepts_the_spec_response_and_refuses_a_wrong_password() -> None:
    raw = Authenticate(0xE2888235, b"\0" * 24, PROOF + TEMP, "Domain", "User", "COMPUTER").pack()
    outcome = _spec_acceptor(EpPolicy(TokenChecking.ALLOW)).authenticate(wire_ntlm.decode(raw))
    assert outcome.ok and outcome.principal == "Domain\\User" and outcome.binding == "absent"
    bad = Authenticate(0xE2888235, b"\0" * 24, bytes(16) + TEMP, "Domain", "User", "COMPUTER").pack()
    refused = _spec_acceptor(EpPolicy(TokenChecking.NONE)).authenticate(wire_ntlm.decode(bad))
    assert not refused.ok and refused.code == "ntlm-logon-failure" and "wrong password" in refused.detail
    required = _spec_acceptor(EpPolicy(TokenChecking.REQUIRE)).authenticate(wire_ntlm.decode(raw))
    assert required.code == "ntlm-bad-bindings" and required.status == 0xC000035B


EXPECTED = b"\x11" * 16
CASES = [
    # checking, flags, binding status, value, version, spn -> ok, outcome
    ("none", "", "value", b"\x22" * 16, "v2", None, True, "not-checked"),
    ("allow", "", "absent", None, "v2", None, True, "absent-allowed"),
    ("allow", "", "zero", bytes(16), "v2", None, False, "zero"),
    ("allow", "", "value", EXPECTED, "v2", None, True, "match"),
    ("allow", "", "value", b"\x22" * 16, "v2", None, False, "mismatch"),
    ("allow", "", "absent", None, "v1", None, True, "absent-allowed"),
    ("require", "", "absent", None, "v2", None, False, "absent"),
    ("require", "", "zero", bytes(16), "v2", None, False, "zero"),
    ("require", "", "value", b"\x22" * 16, "v2", None, False, "mismatch"),
    ("require", "", "value", EXPECTED, "v2", None, True, "match"),
    ("require", "", "absent", None, "v1", None, False, "ntlmv1-refused"),
    ("require", "proxy", "value", b"\x22" * 16, "v2", "HTTP/mail.example.test", True, "proxy-spn-ok"),
    ("require", "proxy", "value", b"\x22" * 16, "v2", "HTTP/other.example.test", False, "spn-not-allowed"),
    ("require", "proxy", "value", b"\x22" * 16, "v2", "HTTP/mail", False, "spn-not-allowed"),
    ("require", "proxy,allow-dotless-spn", "value", b"\x22" * 16, "v2", "HTTP/mail", True, "proxy-spn-ok"),
    ("require", "proxy", "zero", bytes(16), "v2", "HTTP/mail.example.test", False, "zero"),
    ("require", "proxy", "absent", None, "v2", "HTTP/mail.example.test", False, "absent"),
    ("allow", "proxy", "absent", None, "v2", None, True, "absent-allowed"),
    ("require", "proxy,no-service-name-check", "value", b"\x22" * 16, "v2", "HTTP/x.y", True, "proxy-present"),
    ("require", "proxy,proxy-cohosting", "value", EXPECTED, "v2", "HTTP/elsewhere.test", True, "match"),
    ("require", "proxy,proxy-cohosting", "value", b"\x22" * 16, "v2", "HTTP/elsewhere.test", False,
     "spn-not-allowed"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1] or 'noflags'}-{c[2]}-{c[4]}-{c[7]}")
def test_windows_ep_decision_table(case) -> None:  # type: ignore[no-untyped-def]
    checking, flags, status, value, version, spn, ok, outcome = case
    policy = EpPolicy(TokenChecking.parse(checking), EpFlags.parse(flags), ("HTTP/mail.example.test", "HTTP/mail"))
    decision = evaluate(policy, binding_status=status, binding=value, expected=EXPECTED, ntlm_version=version,
                        target_spn=spn)
    assert (decision.ok, decision.outcome) == (ok, outcome)
    if not ok:
        assert decision.code and decision.status == 0xC000035B


def test_policy_parsing_errors() -> None:
    assert TokenChecking.parse("Accept") is TokenChecking.ALLOW and TokenChecking.parse("off") is TokenChecking.NONE
    with pytest.raises(ValueError):
        TokenChecking.parse("sometimes")
    with pytest.raises(ValueError):
        EpFlags.parse("proxy,bogus")
    assert spn_allowed("HTTP/MAIL.example.test:443", ["http/mail.example.test"], allow_dotless=False)[0]


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
@pytest.mark.parametrize("binding,checking,ok,code", [
    ("right", "require", True, None),
    ("none", "allow", True, None),
    ("none", "require", False, "ntlm-bad-bindings"),
    ("wrong", "allow", False, "ntlm-bad-bindings"),
])
def test_pyspnego_client_against_acceptor(protocol: str, binding: str, checking: str, ok: bool,
                                          code: str | None) -> None:
    server_hash = b"\x42" * 32
    cb = {"right": GssChannelBindings(application_data=application_data(server_hash)),
          "wrong": GssChannelBindings(application_data=application_data(b"\x43" * 32)), "none": None}[binding]
    options = spnego.NegotiateOptions.use_ntlm if protocol == "ntlm" else spnego.NegotiateOptions.none
    client = spnego.client("CORP\\alice", "pw", hostname="mail.example.test", protocol=protocol,
                           options=options, channel_bindings=cb)
    users = UserStore.from_lines(["CORP:alice:pw"])
    acc = NegotiateAcceptor(NtlmAcceptor(users, EpPolicy(TokenChecking(checking)),
                                         expected_binding=ntlm_binding_hash(application_data(server_hash))))
    step = acc.step(client.step())
    step = acc.step(client.step(step.token))
    assert step.outcome is not None and (step.outcome.ok, step.outcome.code) == (ok, code)
    assert step.outcome.target_spn == "host/mail.example.test"
    if ok and step.token:
        client.step(step.token)
        assert client.complete


def test_tampered_mic_is_an_invalid_token() -> None:
    client = spnego.client("CORP\\alice", "pw", hostname="h.test", protocol="ntlm")
    acc = NegotiateAcceptor(NtlmAcceptor(UserStore.from_lines(["CORP:alice:pw"]), EpPolicy(),
                                         expected_binding=None))
    step = acc.step(client.step())
    auth = bytearray(client.step(step.token) or b"")
    msg = wire_ntlm.decode(bytes(auth))
    assert msg.mic_present
    offset = bytes(auth).index(msg.mic or b"")
    auth[offset] ^= 0xFF
    outcome = acc.step(bytes(auth)).outcome
    assert outcome is not None and outcome.code == "ntlm-invalid-token" and "MIC" in outcome.detail


# ---- NTLMv2 timestamp against the server's clock (issue 16 item 11) ---------------------------------
def _at(seconds_after_1601: float):  # type: ignore[no-untyped-def]
    import datetime as dt

    moment = dt.datetime(1601, 1, 1) + dt.timedelta(seconds=seconds_after_1601)
    return lambda: FileTime(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _spec_acceptor_at(now, **kw):  # type: ignore[no-untyped-def]
    users = UserStore.from_lines(["Domain:User:Password"])
    acc = NtlmAcceptor(users, EpPolicy(TokenChecking.NONE), expected_binding=None, random=lambda n: SERVER_CHALLENGE,
                       now=now, **kw)
    acc.challenge(wire_ntlm.decode(bytes(spnego.client("Domain\\User", "Password", protocol="ntlm").step())))
    return acc


def test_v2_response_outside_the_skew_is_refused_inside_accepted() -> None:
    from bridgehead.core.ntlm.acceptor import DEFAULT_MAX_SKEW

    assert DEFAULT_MAX_SKEW == 36 * 3600  # MS-NLMP MaxLifetime as Windows sets it (see the module)
    raw = wire_ntlm.decode(Authenticate(0xE2888235, b"\0" * 24, PROOF + TEMP, "Domain", "User", "COMPUTER").pack())
    # the spec's response carries TimeStamp 0 (1601-01-01): a server with today's clock refuses it
    outcome = _spec_acceptor_at(FileTime.now).authenticate(raw)
    assert not outcome.ok and outcome.code == "ntlm-stale-response", outcome
    assert "1601-01-01" in outcome.detail and "36 h" in outcome.detail
    # the configured skew, both sides of it, in the past and the future
    assert _spec_acceptor_at(_at(59), max_skew=60).authenticate(raw).ok
    assert _spec_acceptor_at(_at(61), max_skew=60).authenticate(raw).code == "ntlm-stale-response"
    assert _spec_acceptor_at(_at(0), max_skew=60).authenticate(raw).ok
    # a wrong password stays a wrong password (the timestamp is only trusted inside a verified proof)
    bad = wire_ntlm.decode(Authenticate(0xE2888235, b"\0" * 24, bytes(16) + TEMP, "Domain", "User", "X").pack())
    assert "wrong password" in _spec_acceptor_at(_at(10**6), max_skew=60).authenticate(bad).detail


def test_future_timestamp_is_refused_too() -> None:
    head = bytes.fromhex("0101000000000000") + struct.pack("<Q", 3600 * 10**7) + bytes.fromhex("aaaaaaaaaaaaaaaa")
    temp = head + b"\0" * 4 + TARGET_INFO + b"\0" * 4
    proof = hmac_md5(NTOWFV2, SERVER_CHALLENGE + temp)
    raw = wire_ntlm.decode(Authenticate(0xE2888235, b"\0" * 24, proof + temp, "Domain", "User", "C").pack())
    assert _spec_acceptor_at(_at(3600 - 30), max_skew=60).authenticate(raw).ok
    refused = _spec_acceptor_at(_at(0), max_skew=60).authenticate(raw)
    assert refused.code == "ntlm-stale-response" and "ahead of" in refused.detail
