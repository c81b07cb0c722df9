"""An array member's synchronisation status, in TMG's words (Monitoring → Configuration).

A member reports what it last applied (``applied_version``), the version it last failed to
apply and why (``failed_version``, ``error``) and when it last reported (``last_seen``).
Against the store's newest version the member is:

* ``synced`` — "Synced — Server configuration matches the stored configuration";
* ``pending`` — "Pending" (a newer version exists, the member has not applied it yet);
* ``error`` — "Error — <why>" when the newest version failed on this member (it keeps serving
  its last good version), or when the member has not reported for ``stale_after`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

SYNCED_TEXT = "Synced — Server configuration matches the stored configuration"
PENDING_TEXT = "Pending"


@dataclass(frozen=True)
class MemberReport:
    name: str
    applied_version: int | None
    applied_at: float | None
    failed_version: int | None
    error: str | None
    last_seen: float


@dataclass(frozen=True)
class MemberStatus:
    name: str
    applied_version: int | None
    applied_at: float | None
    state: str  # synced | pending | error
    message: str
    last_seen: float


def member_status(report: MemberReport, latest: int | None, now: float, stale_after: float = 10.0) -> MemberStatus:
    serving = f"serving version {report.applied_version}" if report.applied_version else "serving nothing yet"
    if now - report.last_seen > stale_after:
        state, message = "error", f"Error — no report from this member for {now - report.last_seen:.0f} s ({serving})"
    elif latest is None:
        state, message = "pending", f"{PENDING_TEXT} — no configuration has been applied to the store"
    elif report.failed_version is not None and report.failed_version >= latest and \
            (report.applied_version or 0) < report.failed_version:
        state, message = "error", f"Error — version {report.failed_version}: {report.error} ({serving})"
    elif report.applied_version == latest:
        state, message = "synced", SYNCED_TEXT
    else:
        state, message = "pending", PENDING_TEXT
    return MemberStatus(report.name, report.applied_version, report.applied_at, state, message, report.last_seen)
