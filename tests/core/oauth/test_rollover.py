"""Rollover and MonitorExchangeAuthCertificate decisions over a simulated clock."""

from __future__ import annotations

import datetime as dt

import pytest

from bridgehead.core.oauth import rollover
from bridgehead.core.oauth.rollover import AuthConfig, CertInfo

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def cert(thumb: str, days: float, start: dt.datetime = T0) -> CertInfo:
    return CertInfo(thumb, "CN=Microsoft Exchange Server Auth Certificate", start, start + days * DAY)


def test_rollover_happens_once_effective_date_passed():
    cfg = AuthConfig(current="A", next="B", next_effective=T0 + 30 * DAY)
    assert rollover.roll(cfg, T0 + 29 * DAY) == (cfg, False)
    rolled, changed = rollover.roll(cfg, T0 + 30 * DAY)
    assert changed and rolled == AuthConfig(current="B", previous="A")


def test_publish_and_clear_previous():
    cfg = rollover.set_next(AuthConfig(current="A"), "B", T0 + 400 * DAY)
    cfg = rollover.publish(cfg)
    assert (cfg.current, cfg.next, cfg.previous) == ("B", None, "A")
    assert rollover.clear_previous(cfg) == AuthConfig(current="B")
    with pytest.raises(rollover.RolloverError):
        rollover.publish(AuthConfig(current="A"))
    with pytest.raises(rollover.RolloverError):
        rollover.set_next(AuthConfig(current="A"), "A", T0)


@pytest.mark.parametrize(
    ("days_passed", "action"),
    [
        (0, "none"),
        (5 * 365 - 61, "none"),
        (5 * 365 - 60, "stage-next"),
        (5 * 365 - 1, "stage-next"),
        (5 * 365, "replace-now"),
        (5 * 365 + 400, "replace-now"),
    ],
)
def test_monitor_thresholds_without_next(days_passed, action):
    certs = {"A": cert("A", 5 * 365)}
    decision = rollover.monitor(AuthConfig(current="A"), certs, T0 + days_passed * DAY)
    assert decision.action == action
    assert decision.failure == ("oauth-auth-cert-expired" if action == "replace-now" else None)


def test_stage_effective_in_30_days_or_before_current_expires():
    certs = {"A": cert("A", 100)}
    d = rollover.monitor(AuthConfig(current="A"), certs, T0 + 50 * DAY)  # 50 days left
    assert d.action == "stage-next" and d.effective == T0 + 80 * DAY
    d = rollover.monitor(AuthConfig(current="A"), certs, T0 + 90 * DAY)  # 10 days left: shorter
    assert d.effective == T0 + 99 * DAY
    d = rollover.monitor(AuthConfig(current="A"), certs, T0 + 99.5 * DAY)  # hours left: now
    assert d.effective == T0 + 99.5 * DAY


def test_monitor_respects_a_good_next_and_replaces_a_short_one():
    now = T0 + 50 * DAY
    good = {"A": cert("A", 100), "B": cert("B", 5 * 365, now)}
    cfg = AuthConfig(current="A", next="B", next_effective=now + 30 * DAY)
    assert rollover.monitor(cfg, good, now).action == "none"
    short = {"A": cert("A", 100), "B": cert("B", 170)}  # 120 days left at `now`
    assert rollover.monitor(cfg, short, now).action == "stage-next"


def test_monitor_missing_current():
    assert rollover.monitor(AuthConfig(), {}, T0).failure == "oauth-auth-cert-missing"
    d = rollover.monitor(AuthConfig(current="GONE"), {}, T0)
    assert d.action == "replace-now" and "not in the store" in d.reason


def test_full_lifecycle_over_five_years():
    """Simulate a daily timer running the monitor with --apply for 12 years: never a gap."""
    certs = {"A": cert("A", 5 * 365)}
    cfg = AuthConfig(current="A")
    now, n = T0, 0
    while now < T0 + 12 * 365 * DAY:
        cfg, _ = rollover.roll(cfg, now)
        assert not certs[cfg.current].expired(now)
        d = rollover.monitor(cfg, certs, now)
        assert d.action != "replace-now"
        if d.action == "stage-next":
            n += 1
            new = f"N{n}"
            certs[new] = cert(new, 5 * 365, now)
            cfg = rollover.set_next(cfg, new, d.effective)
        now += DAY
    assert n == 2
