"""Access-log records are typed (issue 16 item 15): ``AccessLog.write(**fields)`` takes the fields
of :class:`~bridgehead.runtime.accesslog.AccessRecord`, so mypy refuses a misspelt or unknown field
or a wrong type at the call site; every record still carries the documented fields."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from bridgehead.runtime.accesslog import FIELDS, AccessLog, AccessRecord

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_refuses_an_unknown_field_and_a_wrong_type(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from bridgehead.runtime.accesslog import AccessLog\n"
        "log = AccessLog()\n"
        "log.write(client='127.0.0.1:1', action='deny', status=502, code='upstream-dns-failed')\n"
        "log.write(clinet='127.0.0.1:1')\n"
        "log.write(status='502')\n"
    )
    p = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports", "--no-error-summary",
                        "--cache-dir", str(tmp_path / "cache"), str(sample)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT, env={"MYPYPATH": str(ROOT / "src"),
                                                                                  "PATH": "/usr/bin:/bin"})
    errors = [line for line in p.stdout.splitlines() if ": error:" in line]
    assert any(':4: error: Unexpected keyword argument "clinet"' in e for e in errors), p.stdout
    assert any(":5: error:" in e and "status" in e for e in errors), p.stdout
    assert not any(":3: error:" in e for e in errors), p.stdout


def test_record_has_the_documented_fields() -> None:
    assert set(FIELDS) <= set(AccessRecord.__annotations__)
    out = io.StringIO()
    AccessLog(stream=out).write(client="127.0.0.1:1", action="error", code="upstream-dns-failed")
    record = json.loads(out.getvalue())
    assert list(record)[: len(FIELDS)] == list(FIELDS) and record["action"] == "error"


def test_timestamp_is_what_isoformat_writes() -> None:
    import datetime as dt

    from bridgehead.runtime.accesslog import _timestamp

    for _ in range(3):
        before = dt.datetime.now(dt.UTC)
        stamp = _timestamp()
        after = dt.datetime.now(dt.UTC)
        parsed = dt.datetime.fromisoformat(stamp)
        assert stamp == parsed.isoformat(timespec="milliseconds")
        assert before - dt.timedelta(milliseconds=1) <= parsed <= after
