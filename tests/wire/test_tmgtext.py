"""TMG Log Viewer text: the seed-000 block as copied from the console, and ``logs scan`` on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bridgehead.wire import tmgtext

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
if not SEEDS.is_dir():
    SEEDS = Path("/work/shared/seeds")
BIN = Path(sys.executable).parent / "bridgehead"

TWO = """Failed Connection Attempt
3/4/2014 9:05:01 PM
Log type: Web Proxy (Reverse)
Status: 12213 The server requires a client certificate to fulfill the request.
Rule: Publish OWA
Source: External (203.0.113.7:50123)
Destination: Local Host (10.0.0.2:443)
Request: GET https://owa.example.com/owa/
User: anonymous

Denied Connection
3/4/2014 9:06:00 AM
Log type: Web Proxy (Forward)
Status: 12202 Forefront TMG denied the specified Uniform Resource Locator (URL).
Rule: Default rule Source: Internal (10.10.10.20:61000)
Request: GET http://blocked.example.net/
"""


def _seed_block() -> str:
    files = sorted(SEEDS.glob("000_*.txt")) if SEEDS.is_dir() else []
    if not files:
        pytest.skip("seed texts not present (../shared/seeds)")
    text = files[0].read_text(encoding="utf-8")
    return text[text.index("Denied Connection"):]


def test_parse_two_records_with_joined_fields() -> None:
    recs = tmgtext.parse(TWO)
    assert [r.action for r in recs] == ["Failed Connection Attempt", "Denied Connection"]
    assert [r.status for r in recs] == [12213, 12202]
    assert recs[0].time == "2014-03-04T21:05:01" and recs[1].time == "2014-03-04T09:06:00"
    assert recs[1].fields["Rule"] == "Default rule" and recs[1].fields["Source"].startswith("Internal (10.10.10.20")
    assert recs[0].line == 1 and recs[1].line == 11
    assert tmgtext.looks_like(TWO) and not tmgtext.looks_like("#Fields: date time\n")


def test_logs_scan_reads_the_seed_block(tmp_path: Path) -> None:
    log = tmp_path / "tmg-viewer.txt"
    log.write_text(_seed_block() + "\n" + TWO, encoding="utf-8")
    p = subprocess.run([str(BIN), "logs", "scan", str(log), "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["files"][0]["format"] == "tmg-text" and data["files"][0]["records"] == 3
    found = {f["code"]: f for f in data["findings"]}
    cert = found["client-cert-under-inspection"]
    assert cert["count"] == 1 and cert["first"] == "2013-12-20T11:44:55"
    assert "adminwebservice.microsoftonline.com" in cert["endpoints"] and "10.10.10.9" in cert["clients"]
    assert any("Anonymouse Access To Web" in d for d in cert["details"])
    assert found["edge-client-cert-missing"]["count"] == 1 and found["tmg-12202"]["count"] == 1
