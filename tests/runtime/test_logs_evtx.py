"""``logs scan`` on Windows ``.evtx`` files, written at run time by tests/support/evtx_writer.py.

The events are the ones admins copy off servers when TLS or Kerberos breaks, with the data fields
Windows writes (no message text: that lives in the provider's message file, see
bridgehead/wire/eventmessages.py for the sources of the rendered sentences):
Schannel 36887 (``AlertDesc``: alert received), 36888 (``AlertDesc``/``ErrorState``: alert sent),
36874 (``Protocol``: no common cipher suite), KDC 14/16/27 (positional: target, account, key id,
requested and available etypes; KB4492348, KB5021131), Security 4771 (``Status`` 0x18 / 0x25).
python-evtx reads the files back (checksums included); the scan is run through the installed
command, as an admin would run it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.core.logscan import Filters
from bridgehead.runtime import logfiles
from tests.support.evtx_writer import Event, evtx_bytes, write_evtx

BIN = Path(sys.executable).parent / "bridgehead"
KDC = "Microsoft-Windows-Kerberos-Key-Distribution-Center"
SEC = "Microsoft-Windows-Security-Auditing"
T0 = dt.datetime(2024, 9, 10, 10, 0, 0, tzinfo=dt.UTC)


def _events() -> list[Event]:
    def at(minutes: int) -> dt.datetime:
        return T0 + dt.timedelta(minutes=minutes)

    def preauth(status: str, minutes: int) -> Event:
        return Event(SEC, 4771, at(minutes), [("TargetUserName", "alice"), ("TargetSid", "S-1-5-21-1-2-3-1104"),
                                              ("ServiceName", "krbtgt/CORP.EXAMPLE"), ("TicketOptions", "0x40810010"),
                                              ("Status", status), ("PreAuthType", "2"),
                                              ("IpAddress", "::ffff:10.0.0.5"), ("IpPort", "51234")],
                     channel="Security", computer="DC01.corp.example")

    return [
        Event("Schannel", 36887, at(0), [("AlertDesc", "46")]),
        Event("Schannel", 36887, at(1), [("AlertDesc", "46")]),
        Event("Schannel", 36888, at(2), [("AlertDesc", "40"), ("ErrorState", "1205")]),
        Event("Schannel", 36874, at(3), [("Protocol", "TLS 1.2")]),
        Event(KDC, 14, at(4), [(None, "krbtgt"), (None, "svc_web"), (None, "1"), (None, "18 17"), (None, "23")],
              computer="DC01.corp.example"),
        Event(KDC, 16, at(5), [(None, "HTTP/web.corp.example"), (None, "svc_web"), (None, "8"), (None, "18"),
                               (None, "23")], computer="DC01.corp.example"),
        Event(KDC, 27, at(6), [(None, "HTTP/web.corp.example"), (None, "svc_web"), (None, "9"), (None, "23 3 1"),
                               (None, "23 18 17")], computer="DC01.corp.example"),
        preauth("0x18", 7),
        preauth("0x25", 8),
        Event("Service Control Manager", 7036, at(9), [("param1", "Windows Update"), ("param2", "running")]),
    ]


WANT = {"tls-alert-46": 2, "tls-alert-40": 2, "krb-etype-unsupported": 3, "krb-preauth-failed": 1,
        "krb-clock-skew": 1}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=60)


def test_python_evtx_reads_the_written_file(tmp_path: Path) -> None:
    from Evtx.Evtx import Evtx

    path = write_evtx(tmp_path / "System.evtx", _events() * 40)  # 400 records: several 64 KiB chunks
    with Evtx(str(path)) as log:
        header = log.get_file_header()
        assert header.verify() and header.chunk_count() > 1
        assert all(chunk.verify() for chunk in header.chunks())
        records = list(log.records())
        assert [r.record_num() for r in records] == list(range(1, 401))
        assert "<EventID>36887</EventID>" in records[0].xml()
        # a later chunk's record, rendered first: names from the string table, its template (defined by an
        # earlier record of the same shape) from the template table
        assert '<Data Name="AlertDesc">46</Data>' in log.get_record(391).xml()
        assert all(len(chunk.templates()) >= 2 for chunk in header.chunks())  # fresh chunk objects: from the table


def test_scan_evtx_names_schannel_and_kerberos_failures(tmp_path: Path) -> None:
    path = write_evtx(tmp_path / "System.evtx", _events())
    p = _run("logs", "scan", "--json", str(path))
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["files"] == [{"path": str(path), "format": "evtx", "records": 10, "errors": [],
                              "repaired_lines": 0}]
    found = {f["code"]: f for f in data["findings"]}
    assert {c: f["count"] for c, f in found.items()} == WANT
    alert = found["tls-alert-46"]
    assert alert["examples"] == [f"{path}#record1", f"{path}#record2"]
    assert alert["first"] == "2024-09-10T10:00:00" and alert["last"] == "2024-09-10T10:01:00"
    assert alert["details"] == {"Schannel event 36887": 2} and alert["clients"] == {"EX01.corp.example": 2}
    assert set(found["krb-etype-unsupported"]["details"]) == {f"{KDC} event {n}" for n in (14, 16, 27)}
    assert found["krb-preauth-failed"]["examples"] == [f"{path}#record8"]
    p = _run("logs", "scan", str(path), "--since", "2024-09-10 10:05")
    assert p.returncode == 0 and "krb-preauth-failed" in p.stdout and "tls-alert-46" not in p.stdout


def test_scan_gzipped_evtx_in_a_directory(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "System.evtx.gz").write_bytes(gzip.compress(evtx_bytes(_events())))
    report = logfiles.scan([tmp_path / "logs"], Filters())
    assert [(f.format, f.records, f.errors) for f in report.files] == [("evtx", 10, [])]
    assert {c: f.count for c, f in report.findings.by_code.items()} == WANT


def test_damaged_evtx_is_reported_not_fatal(tmp_path: Path) -> None:
    good = evtx_bytes(_events())
    bad_crc = bytearray(good)
    bad_crc[0x1000 + 0x200 + 0x40] ^= 0xFF  # inside the first record: chunk data CRC no longer matches
    (tmp_path / "crc.evtx").write_bytes(bytes(bad_crc))
    (tmp_path / "cut.evtx").write_bytes(good[:0x1000 + 0x8000])  # half a chunk
    (tmp_path / "header.evtx").write_bytes(good[:0x1000])
    p = _run("logs", "scan", "--json", str(tmp_path / "crc.evtx"), str(tmp_path / "cut.evtx"),
             str(tmp_path / "header.evtx"))
    assert "Traceback" not in p.stderr
    files = {Path(f["path"]).name: f for f in json.loads(p.stdout)["files"]}
    assert any("CRC32 mismatch" in e for e in files["crc.evtx"]["errors"])
    assert files["crc.evtx"]["records"] >= 9
    assert any("truncated" in e for e in files["cut.evtx"]["errors"])
    assert files["header.evtx"]["records"] == 0 and files["header.evtx"]["errors"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0x1000, 0x1000 + 0x2000), st.integers(0, 255)), min_size=1, max_size=30),
       st.integers(0, 2**32 - 1))
def test_fuzz_corrupted_evtx_never_raises(tmp_path_factory: object, flips: list[tuple[int, int]],
                                          seed: int) -> None:
    data = bytearray(evtx_bytes(_events()[:4]))
    for offset, value in flips:
        data[offset] = value
    rng = random.Random(seed)
    if rng.random() < 0.3:
        del data[rng.randrange(0x1000, len(data)):]
    path = Path(str(tmp_path_factory.mktemp("fuzz"))) / "f.evtx"  # type: ignore[attr-defined]
    path.write_bytes(bytes(data))
    report = logfiles.scan([path], Filters())
    (result,) = report.files
    assert result.format == "evtx" and result.records <= 4
    assert len(result.errors) <= 21
