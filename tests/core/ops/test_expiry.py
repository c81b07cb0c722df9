"""The expiry board's decisions: urgency thresholds, words, order."""

from __future__ import annotations

import datetime as dt

from bridgehead.core.ops.expiry import AMBER_DAYS, RED_DAYS, Item, board, urgency

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _item(days: float | None, kind: str = "listener certificate", field: str = "notAfter") -> Item:
    ends = NOW + dt.timedelta(days=days) if days is not None else None
    return Item(kind, "listener edge", "CN=x", ends, "x.pem", field=field, error="" if ends else "gone")


def test_thresholds() -> None:
    assert urgency(None) == "unknown"
    assert urgency(-0.01) == "expired"
    assert urgency(0) == "red" and urgency(RED_DAYS - 0.01) == "red"
    assert urgency(RED_DAYS) == "amber" and urgency(AMBER_DAYS - 0.01) == "amber"
    assert urgency(AMBER_DAYS) == "ok"


def test_words_and_order() -> None:
    rows = board([_item(400), _item(20), _item(-3), _item(None), _item(5), _item(-0.5, "CRL", "nextUpdate"),
                  _item(0.25)], NOW)
    assert [r.urgency for r in rows] == ["unknown", "expired", "expired", "red", "red", "amber", "ok"]
    assert [r.words for r in rows] == ["cannot read: gone", "expired 3 days ago", "stale 12 hours ago",
                                       "6 hours left", "5 days left", "20 days left", "400 days left"]
    assert board([_item(1)], NOW)[0].words == "1 day left"
