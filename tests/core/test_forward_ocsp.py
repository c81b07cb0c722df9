"""OCSP decisions for origin certificates (core/forward_ocsp.py): policy, verdicts, reuse of an answer."""

from __future__ import annotations

import datetime as dt

import pytest

from bridgehead.core import forward_ocsp as fo
from bridgehead.core.forward_policy import PolicyError

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_policy_first_matching_table_then_default() -> None:
    policy = fo.parse_policy("open", [{"destination": ["*.bank.example"], "fail": "closed"},
                                      {"destination": "intranet.example:8443", "fail": "off"}], 3.0)
    assert policy.mode_for("www.bank.example", 443) == ("closed", "ocsp[1]")
    assert policy.mode_for("intranet.example", 8443) == ("off", "ocsp[2]")
    assert policy.mode_for("intranet.example", 443) == ("open", "ocsp (default)")
    assert not fo.parse_policy("off", [], 3.0).enabled and fo.OcspPolicy().default == "open"
    with pytest.raises(PolicyError, match="unknown key"):
        fo.parse_policy("open", [{"destination": "a.example", "fail": "open", "mode": "x"}], 3.0)
    with pytest.raises(PolicyError, match="ocsp_timeout"):
        fo.parse_policy("open", [], 0)


def test_answers_are_reused_between_this_update_and_next_update() -> None:
    answer = fo.OcspStatus("good", "OCSP: good", NOW, NOW + dt.timedelta(minutes=5))
    assert fo.usable(answer, NOW + dt.timedelta(minutes=4, seconds=59))
    assert not fo.usable(answer, NOW + dt.timedelta(minutes=5, seconds=1))  # nextUpdate passed: ask again
    assert fo.usable(answer, NOW - dt.timedelta(minutes=4))  # clock skew
    assert not fo.usable(answer, NOW - dt.timedelta(minutes=6))
    endless = fo.OcspStatus("good", "OCSP: good", NOW, None)  # no nextUpdate: a short while only
    assert fo.usable(endless, NOW + fo.NO_NEXT_UPDATE_TTL) and not fo.usable(endless, NOW + dt.timedelta(hours=1))


def test_verdicts() -> None:
    good = fo.OcspStatus("good", "OCSP: good", NOW, None)
    revoked = fo.OcspStatus("revoked", "OCSP: revoked since x", NOW, None)
    unknown = fo.OcspStatus("unknown", "OCSP: responder does not know the certificate", NOW, None)
    url = "http://ocsp.example/"
    assert fo.verdict("closed", "ocsp[1]", url, good, None) == fo.OcspVerdict()
    for mode in ("open", "closed"):
        refused = fo.verdict(mode, "ocsp[1]", url, revoked, None).refuse
        assert refused is not None and refused[0] == "upstream-cert-revoked" and url in refused[1]
    closed = fo.verdict("closed", "ocsp[1]", url, None, "timed out").refuse
    assert closed is not None and closed[0] == "upstream-ocsp-unavailable" and "timed out" in closed[1]
    opened = fo.verdict("open", "ocsp (default)", url, unknown, None)
    assert opened.refuse is None and opened.note is not None and opened.note[0] == "upstream-ocsp-soft-fail"
