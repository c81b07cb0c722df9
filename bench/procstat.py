"""CPU time of a proxy under load, from ``/proc/PID/stat`` (stable on a shared machine where req/s is not).

    before = cpu_seconds(pid); ...load...; us = cpu_us_per_request(before, cpu_seconds(pid), requests)

``cpu_seconds`` is utime + stime (fields 14 and 15, proc(5)) of the process and of its live
children (forked workers), in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _own(pid: int) -> tuple[float, float]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0.0
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) seconds of ``pid`` and its live children."""
    user, system = _own(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for c in children:
        u, s = cpu_split(int(c))
        user, system = user + u, system + s
    return user, system


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


def cpu_us_per_request(before: float, after: float, requests: int) -> float | None:
    return round((after - before) / requests * 1e6, 1) if requests else None
