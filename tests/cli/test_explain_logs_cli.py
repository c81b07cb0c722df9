"""``bridgehead explain`` and ``bridgehead logs`` through the installed command (subprocess)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.logsamples import IIS_HEADER, SEED_EVENT_XML, iis_line, make_freb, ntlm_header

BIN = Path(sys.executable).parent / "bridgehead"
TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "iis"
if not TESTDATA.is_dir():
    TESTDATA = Path("/work/shared/testdata/iis")
MRS = "/EWS/mrsproxy.svc"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], input=stdin.decode("latin-1") if stdin is not None else None,
                          capture_output=True, text=True, timeout=60)


# -- explain --------------------------------------------------------------------------------

def test_explain_json_shape_and_codes() -> None:
    p = run("explain", "--json", "Client's supplied SSPI channel bindings were incorrect. (0x80090346)")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    first = data["matches"][0]
    assert set(first) >= {"code", "title", "cause", "fix", "evidence", "references", "equivalents"}
    assert first["code"] == "ntlm-bad-bindings"
    assert first["evidence"]["codes"][0]["signed"] == -2146892986


def test_explain_stdin_event_xml_and_human_output() -> None:
    p = run("explain", "-", stdin=SEED_EVENT_XML.encode())
    assert p.returncode == 0, p.stderr
    assert "client-cert-under-inspection" in p.stdout.splitlines()[0]
    assert "fix:" in p.stdout and "TMG 12229" in p.stdout


def test_explain_unknown_and_bad_input() -> None:
    p = run("explain", "nothing to see here")
    assert p.returncode == 1 and "unknown input" in p.stdout
    p = run("explain", "-", stdin=b"")
    assert p.returncode == 2 and "empty input" in p.stderr and "Traceback" not in p.stderr
    p = run("explain", "-", stdin=b"\x00\x01binary")
    assert p.returncode == 2 and "binary" in p.stderr


def test_explain_code_list_and_header_line() -> None:
    p = run("explain", "upstream-cert-expired")
    assert p.returncode == 0 and "upstream-cert-expired" in p.stdout.splitlines()[0]
    p = run("explain", "--json", "X-Bridgehead-Code: edge-no-route")
    assert p.returncode == 0 and json.loads(p.stdout)["matches"][0]["code"] == "edge-no-route"
    p = run("explain", "--list", "--json")
    assert p.returncode == 0, p.stderr
    codes = json.loads(p.stdout)["codes"]
    assert len(codes) >= 80 and all({"code", "title"} <= set(c) for c in codes)
    p = run("explain", "--list")
    assert p.returncode == 0 and len(p.stdout.splitlines()) == len(codes)
    p = run("explain", "--list", "something")
    assert p.returncode == 2 and "takes no TEXT" in p.stderr


# -- logs scan ------------------------------------------------------------------------------

def _failure_log() -> str:
    return (IIS_HEADER + iis_line("10:00:01", MRS, 401, 2, 5) + iis_line("10:00:01", MRS, 401, 1, 2148074254)
            + iis_line("10:00:01", MRS, 401, 1, 3221226331) + iis_line("10:00:09", "/owa/", 200, 0, 0))


def test_scan_directory_with_every_format_and_hostile_files(tmp_path: Path) -> None:
    d = tmp_path / "logs"
    (d / "W3SVC1").mkdir(parents=True)
    (d / "W3SVC1" / "u_ex240910.log").write_text(_failure_log())
    with gzip.open(d / "W3SVC1" / "u_ex240909.log.gz", "wt") as fh:
        fh.write(_failure_log())
    (d / "W3SVC1" / "u_ex240908.log").write_bytes(_failure_log().encode("utf-16"))
    (d / "freb").mkdir()
    (d / "freb" / "fr000001.xml").write_bytes(make_freb())
    (d / "freb" / "fr000002.xml").write_bytes(make_freb()[:500])  # truncated
    (d / "freb" / "freb.xsl").write_text("<xsl:stylesheet/>")
    (d / "app.xml").write_text(SEED_EVENT_XML)
    (d / "bomb.xml").write_bytes(b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><Event>&b;</Event>')
    (d / "garbage.log").write_bytes(bytes(range(256)) * 40)
    (d / "bridgehead.jsonl").write_text(json.dumps(
        {"ts": "2024-09-10T10:05:00.000+00:00", "client": "127.0.0.1", "user": None, "rule": "default",
         "action": "deny", "host": "adminwebservice.microsoftonline.com", "port": 443, "method": "CONNECT",
         "url": "adminwebservice.microsoftonline.com:443", "status": 502, "code": "client-cert-under-inspection",
         "reason": "CertificateRequest", "tmg_status": 12229, "duration_ms": 12, "bytes_in": 0,
         "bytes_out": 0}) + "\n" + "{not json\n")
    truncated_gz = gzip.compress(_failure_log().encode())[:-30]
    (d / "cut.log.gz").write_bytes(truncated_gz)
    p = run("logs", "scan", "--json", str(d))
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    files = {Path(f["path"]).name: f for f in data["files"]}
    assert "freb.xsl" not in files  # found in a directory and not a log: skipped quietly
    assert files["u_ex240910.log"]["records"] == 4 and files["u_ex240909.log.gz"]["format"] == "iis"
    assert files["u_ex240908.log"]["records"] == 4  # UTF-16
    assert files["fr000001.xml"]["format"] == "freb" and files["fr000002.xml"]["errors"]
    assert files["bomb.xml"]["errors"] and "refused" in files["bomb.xml"]["errors"][0]
    assert files["garbage.log"]["errors"] and files["cut.log.gz"]["errors"]
    assert files["bridgehead.jsonl"]["errors"] == ["line 2: not JSON"]
    found = {f["code"]: f for f in data["findings"]}
    assert found["ntlm-three-401"]["count"] >= 3
    assert found["ntlm-bad-bindings"]["count"] >= 4  # three IIS logs + the FREB trace
    assert found["client-cert-under-inspection"]["count"] == 2  # event XML + JSON log
    assert any("MSXFAQ\\miguser" in k for k in found["log-contains-credentials"]["details"])
    assert ntlm_header().split()[1][:30] not in p.stdout  # never the raw token
    for f in data["findings"]:
        assert set(f) >= {"code", "title", "count", "first", "last", "examples"}


@pytest.mark.skipif(not TESTDATA.is_dir(), reason="../shared/testdata/iis not present")
def test_scan_public_samples_without_loss() -> None:
    p = run("logs", "scan", "--json", *[str(x) for x in sorted(TESTDATA.glob("*.log"))])
    assert p.returncode == 0, p.stderr
    for f in json.loads(p.stdout)["files"]:
        lines = Path(f["path"]).read_bytes().splitlines()
        assert f["records"] == sum(1 for li in lines if not li.startswith(b"#"))
        assert f["errors"] == [] and f["repaired_lines"] == 0


def test_scan_human_output_and_errors(tmp_path: Path) -> None:
    log = tmp_path / "u_ex.log"
    log.write_text(_failure_log())
    p = run("logs", "scan", str(log), "--since", "2024-09-10 10:00")
    assert p.returncode == 0 and "ntlm-bad-bindings" in p.stdout and "fix:" in p.stdout
    p = run("logs", "scan", str(log), "--since", "yesterday")
    assert p.returncode == 2 and "not a time" in p.stderr
    p = run("logs", "scan", str(tmp_path / "missing.log"))
    assert p.returncode == 2 and "read error" in p.stderr and "nothing to read" in p.stderr


# -- logs freb ------------------------------------------------------------------------------

def test_freb_filter_copy_and_json(tmp_path: Path) -> None:
    src = tmp_path / "W3SVC1"
    src.mkdir()
    (src / "freb.xsl").write_text("<xsl:stylesheet/>")
    (src / "fr000001.xml").write_bytes(make_freb())
    (src / "fr000002.xml").write_bytes(make_freb(url="https://mail.example/owa/", error_code=None,
                                                 status="401.2"))
    (src / "fr000003.xml").write_bytes(make_freb(headers={"Host": "mrs.msxfaq.net"}))
    (src / "fr000004.xml").write_bytes(make_freb(status="500.0", error_code=None))
    (src / "fr000005.xml").write_bytes(b"<failedRequest url='https://x/EWS/mrsproxy.svc' statusCode='401.1'>")
    out = tmp_path / "filter"
    p = run("logs", "freb", str(src), "--url", "*/ews/MRSPROXY.svc", "--status", "401",
            "--header", "*X-Forwarded-For*", "--copy-to", str(out), "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert [Path(m["path"]).name for m in data["matches"]] == ["fr000001.xml"]
    m = data["matches"][0]
    assert m["status"] == "401.1" and m["auth_type"] == "NTLM" and m["x_forwarded_for"] == "52.97.218.221"
    assert m["errors"][0]["codes"] == ["ntlm-bad-bindings"] and m["errors"][0]["error_code"] == "0x80090346"
    assert "MSXFAQ\\miguser" in m["authorization"]
    assert sorted(x.name for x in out.iterdir()) == ["fr000001.xml", "freb.xsl"]
    assert any("fr000005.xml" in e for e in data["errors"])
    p = run("logs", "freb", str(src), "--url", "*/EWS/mrsproxy.svc")
    assert p.returncode == 0 and "3 of 5" in p.stdout
    p = run("logs", "freb", str(tmp_path / "nope"), "--url", "*")
    assert p.returncode == 2 and "Traceback" not in p.stderr
