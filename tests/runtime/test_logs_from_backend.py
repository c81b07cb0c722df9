"""Logs written by bridgehead's test backend (an independent writer) are read back with the right codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bridgehead.core.logscan import Filters
from bridgehead.runtime import logfiles

backend_freb = pytest.importorskip("bridgehead.runtime.backend.freb")
backend_w3c = pytest.importorskip("bridgehead.runtime.backend.w3c")

WHEN = dt.datetime(2024, 9, 10, 10, 0, 1, tzinfo=dt.UTC)


def _request(code: str | None, status: int, sub: int, ok: bool = False) -> object:
    return backend_freb.FrebRequest(
        url="https://mrs.example:443/EWS/mrsproxy.svc", verb="POST", status=status, substatus=sub,
        time_taken_ms=3, headers=[("Host", "mrs.example"), ("X-Forwarded-For", "52.97.218.221")],
        response_headers=[("WWW-Authenticate", "Negotiate")], auth_scheme="NTLM", auth_ok=ok,
        user=None, code=code, detail="", conn_id=7, when=WHEN)


def test_backend_freb_and_w3c_read_back(tmp_path: Path) -> None:
    freb_dir = tmp_path / "FailedReqLogFiles" / "W3SVC1"
    writer = backend_freb.FrebWriter(freb_dir)
    writer.write(_request("ntlm-bad-bindings", 401, 1))
    writer.write(_request("ntlm-invalid-token", 401, 1))
    log = tmp_path / "W3SVC1" / "u_ex240910.log"
    w = backend_w3c.W3CWriter(log)
    for sub, win32 in ((2, 5), (1, 0x8009030E), (1, 0xC000035B)):
        w.write(backend_w3c.W3CRecord(WHEN, "127.0.0.1", "POST", "/EWS/mrsproxy.svc", "", 443, None, "127.0.0.1",
                                      "MRSProxy", None, 401, sub, win32, 3, "52.97.218.221"))

    report = logfiles.scan([tmp_path], Filters())
    assert all(not f.errors for f in report.files), [f.errors for f in report.files]
    found = {code: f.count for code, f in report.findings.by_code.items()}
    assert found["ntlm-bad-bindings"] == 2  # one FREB trace + the third 401 in the W3C log
    assert found["ntlm-invalid-token"] == 1 and found["ntlm-three-401"] == 1
    assert found["ntlm-proxy-in-path"] == 5  # 2 FREB + 3 W3C lines with X-Forwarded-For
    assert "log-contains-credentials" not in found

    match = logfiles.freb_filter(freb_dir, "*/ews/mrsproxy.svc", status=401)
    assert [e["codes"] for m in match.matches for e in m.errors] == [["ntlm-bad-bindings"], ["ntlm-invalid-token"]]


def test_logs_freb_shows_the_backends_authorization_summary(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bridgehead.runtime.backend import app as backend_app
    from tests.support.logsamples import ntlm_header

    header = ntlm_header("miguser", "MSXFAQ", "PADPRO08MB6223")
    written = backend_app._redact("Authorization", header)  # what the backend puts into its FREB trace
    assert written.startswith("NTLM [") and header.split()[1] not in written
    freb_dir = tmp_path / "FailedReqLogFiles" / "W3SVC1"
    request = _request("ntlm-bad-bindings", 401, 1)
    request.headers.append(("Authorization", written))  # type: ignore[attr-defined]
    backend_freb.FrebWriter(freb_dir).write(request)
    match = logfiles.freb_filter(freb_dir, "*/ews/mrsproxy.svc", status=401)
    shown = match.matches[0].authorization
    assert shown == written and "undecodable" not in (shown or "")
    # a value that is a real credential is still decoded (never echoed)
    assert logfiles._authorization(header) == "NTLM AUTHENTICATE MSXFAQ\\miguser from PADPRO08MB6223 (NTLMv2)"
