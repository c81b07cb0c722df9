"""Sync status in TMG's words, redacted diffs, console password hashes."""

from __future__ import annotations

from bridgehead.core.ops.diff import config_diff, diff_summary
from bridgehead.core.ops.password import hash_password, verify_password
from bridgehead.core.ops.sync import SYNCED_TEXT, MemberReport, member_status


def _r(applied: int | None, failed: int | None = None, seen: float = 100.0) -> MemberReport:
    return MemberReport("m", applied, 90.0 if applied else None, failed, "boom" if failed else None, seen)


def test_member_states() -> None:
    assert member_status(_r(3), 3, 101).message == SYNCED_TEXT
    assert member_status(_r(2), 3, 101).state == "pending"
    err = member_status(_r(2, failed=3), 3, 101)
    assert err.state == "error" and err.message == "Error — version 3: boom (serving version 2)"
    assert member_status(_r(2, failed=3), 4, 101).state == "pending"  # a newer version may fix it
    stale = member_status(_r(3, seen=50), 3, 101)
    assert stale.state == "error" and "no report from this member for 51 s" in stale.message
    assert member_status(_r(None), None, 101).state == "pending"


def test_diff_redacts_secrets() -> None:
    diff = config_diff('[admin]\npassword_hash = "scrypt$a"\n', '[admin]\npassword_hash = "scrypt$b"\nx = 1\n',
                       "version 1", "version 2")
    assert "scrypt$" not in diff and "+x = 1" in diff and diff_summary(diff) == "+1 -0"


def test_password_hash_round_trip() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", encoded) and not verify_password("wrong", encoded)
    assert not verify_password("x", "garbage")
