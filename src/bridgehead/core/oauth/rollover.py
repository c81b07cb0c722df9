"""Auth Certificate rollover and the MonitorExchangeAuthCertificate decision, over any clock.

AuthConfig keeps three thumbprints (Get-AuthConfig: ``CurrentCertificateThumbprint``,
``NextCertificateThumbprint`` + ``NextCertificateEffectiveDate``,
``PreviousCertificateThumbprint``). Exchange rolls over by itself once Next's effective date
has passed: Previous ← Current, Current ← Next. ``Set-AuthConfig -PublishCertificate`` does
it at once; ``-ClearPreviousCertificate`` drops Previous.

The monitor (CSS-Exchange MonitorExchangeAuthCertificate.ps1, seed 003) decides:

* no Current, or Current's certificate missing or expired → *replace now* (new certificate,
  effective immediately — OAuth is already broken);
* Current has ≤ 60 days left and Next is missing or has ≤ 120 days left → *stage Next*: a
  new certificate effective in 30 days, sooner when Current expires before that (one day
  before its expiry, never in the past);
* otherwise nothing to do.

Everything here is pure: state in, state or decision out; ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

RENEW_DAYS = 60
NEXT_MIN_DAYS = 120
STAGE_DAYS = 30

NONE, STAGE_NEXT, REPLACE_NOW = "none", "stage-next", "replace-now"


class RolloverError(ValueError):
    """A lifecycle step that cannot be applied to the current state."""


@dataclass(frozen=True)
class CertInfo:
    thumbprint: str
    subject: str
    not_before: datetime
    not_after: datetime

    def days_left(self, now: datetime) -> int:
        return int((self.not_after - now).total_seconds() // 86400)

    def expired(self, now: datetime) -> bool:
        return self.not_after <= now


@dataclass(frozen=True)
class AuthConfig:
    current: str | None = None
    next: str | None = None
    next_effective: datetime | None = None
    previous: str | None = None


def roll(config: AuthConfig, now: datetime) -> tuple[AuthConfig, bool]:
    """Apply the automatic rollover if Next's effective date has passed."""
    if config.next is not None and config.next_effective is not None and config.next_effective <= now:
        return AuthConfig(current=config.next, previous=config.current), True
    return config, False


def set_next(config: AuthConfig, thumbprint: str, effective: datetime) -> AuthConfig:
    if thumbprint == config.current:
        raise RolloverError(f"{thumbprint} is already the current Auth Certificate")
    return replace(config, next=thumbprint, next_effective=effective)


def publish(config: AuthConfig) -> AuthConfig:
    """``-PublishCertificate``: Next becomes Current now, Current becomes Previous."""
    if config.next is None:
        raise RolloverError("there is no Next certificate to publish (use set-next first)")
    return AuthConfig(current=config.next, previous=config.current)


def clear_previous(config: AuthConfig) -> AuthConfig:
    return replace(config, previous=None)


@dataclass(frozen=True)
class Decision:
    action: str  # none | stage-next | replace-now
    reason: str
    failure: str | None  # registry code that names the problem, if any
    current_days_left: int | None
    next_days_left: int | None
    effective: datetime | None  # for stage-next / replace-now: when the new certificate takes over

    @property
    def needed(self) -> bool:
        return self.action != NONE


def monitor(
    config: AuthConfig,
    certs: Mapping[str, CertInfo],
    now: datetime,
    *,
    renew_days: int = RENEW_DAYS,
    next_min_days: int = NEXT_MIN_DAYS,
    stage_days: int = STAGE_DAYS,
) -> Decision:
    """The decision MonitorExchangeAuthCertificate makes for ``config`` at ``now``."""
    current = certs.get(config.current) if config.current else None
    nxt = certs.get(config.next) if config.next else None
    cur_left = current.days_left(now) if current else None
    next_left = nxt.days_left(now) if nxt else None
    if config.current is None or current is None:
        what = (
            "no Current Auth Certificate is configured"
            if config.current is None
            else (f"the Current Auth Certificate {config.current} is not in the store")
        )
        return Decision(
            REPLACE_NOW, what + ": replace it now", "oauth-auth-cert-missing", None, next_left, now
        )
    if current.expired(now):
        return Decision(
            REPLACE_NOW,
            f"the Current Auth Certificate {current.thumbprint} expired on "
            f"{current.not_after:%Y-%m-%d}: replace it now",
            "oauth-auth-cert-expired",
            cur_left,
            next_left,
            now,
        )
    if cur_left is not None and cur_left <= renew_days:
        if nxt is None or nxt.expired(now) or (next_left is not None and next_left <= next_min_days):
            why = (
                "no Next certificate is staged"
                if nxt is None
                else (f"the Next certificate has only {next_left} days left")
            )
            effective = min(now + timedelta(days=stage_days), current.not_after - timedelta(days=1))
            effective = max(effective, now)
            return Decision(
                STAGE_NEXT,
                f"the Current Auth Certificate has {cur_left} days left "
                f"(≤ {renew_days}) "
                f"and {why}: stage a new one effective {effective:%Y-%m-%d %H:%M} UTC",
                None,
                cur_left,
                next_left,
                effective,
            )
        return Decision(
            NONE,
            f"the Current Auth Certificate has {cur_left} days left; Next "
            f"{nxt.thumbprint} ({next_left} days left) takes over on "
            f"{_day(config.next_effective)}",
            None,
            cur_left,
            next_left,
            None,
        )
    return Decision(
        NONE,
        f"the Current Auth Certificate has {cur_left} days left (> {renew_days})",
        None,
        cur_left,
        next_left,
        None,
    )


def _day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value is not None else "(no effective date)"
