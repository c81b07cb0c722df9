"""The certificate expiry board's decisions: days left and urgency, most urgent first.

Each :class:`Item` is one date that ends something: a certificate's ``notAfter``
(RFC 5280 §4.1.2.5) or a CRL's ``nextUpdate`` (RFC 5280 §5.1.2.5: after it a relying party
holds no current list, and a fail-closed listener refuses client certificates). The runtime
reads the files of the running configuration; this module only judges dates:

* ``expired`` — the date has passed (a CRL: "stale");
* ``red`` — fewer than :data:`RED_DAYS` days left;
* ``amber`` — fewer than :data:`AMBER_DAYS` days left;
* ``ok`` — more; ``unknown`` — the item could not be read (``error`` says why).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

RED_DAYS = 14
AMBER_DAYS = 45
_ORDER = {"unknown": 0, "expired": 1, "red": 2, "amber": 3, "ok": 4}


@dataclass(frozen=True)
class Item:
    kind: str  # "inspection CA", "listener certificate", "bridging certificate", "Auth Certificate", "CRL", …
    owner: str  # what uses it: "forward", "listener edge", "route owa", "admin", …
    subject: str  # certificate subject or CRL issuer (RFC 4514)
    ends: dt.datetime | None  # notAfter or nextUpdate (UTC)
    source: str  # the file (or store record) it was read from
    field: str = "notAfter"  # or "nextUpdate"
    error: str = ""


@dataclass(frozen=True)
class Row:
    item: Item
    days_left: float | None
    urgency: str  # expired | red | amber | ok | unknown

    @property
    def words(self) -> str:
        if self.days_left is None:
            return f"cannot read: {self.item.error}" if self.item.error else "no date"
        if self.urgency == "expired":
            what = "stale" if self.item.field == "nextUpdate" else "expired"
            return f"{what} {_days(-self.days_left)} ago"
        return f"{_days(self.days_left)} left"


def _days(value: float) -> str:
    whole = int(value)
    if whole == 0:
        return f"{max(0, int(value * 24))} hours"
    return "1 day" if whole == 1 else f"{whole} days"


def urgency(days_left: float | None) -> str:
    if days_left is None:
        return "unknown"
    if days_left < 0:
        return "expired"
    if days_left < RED_DAYS:
        return "red"
    if days_left < AMBER_DAYS:
        return "amber"
    return "ok"


def board(items: list[Item], now: dt.datetime) -> list[Row]:
    """One row per item, most urgent first (unreadable, expired, red, amber, ok), soonest first."""
    rows = []
    for item in items:
        left = (item.ends - now).total_seconds() / 86400 if item.ends is not None else None
        rows.append(Row(item, left, urgency(left)))
    return sorted(rows, key=lambda r: (_ORDER[r.urgency], r.days_left if r.days_left is not None else 0.0))
