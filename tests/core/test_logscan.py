"""The log analysis rules on generated failure logs, fed as bytes (no files)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.core.logscan import FileResult, Filters, Findings, W3cScanner, normalise_time
from tests.support.logsamples import IIS_HEADER, iis_line

MRS = "/EWS/mrsproxy.svc"


def _scan(data: bytes, filters: Filters | None = None, chunks: list[int] | None = None) -> tuple[FileResult,
                                                                                                   Findings]:
    result, findings = FileResult("t.log", "iis"), Findings()
    scanner = W3cScanner(result, findings, filters or Filters())
    pos = 0
    for size in chunks or [len(data)]:
        scanner.feed(data[pos:pos + size])
        pos += size
    if pos < len(data):
        scanner.feed(data[pos:])
    scanner.close()
    return result, findings


def _failing_logon(t: str = "10:00:01", client: str = "10.0.0.9", win32: int = 3221226331) -> str:
    return (iis_line(t, MRS, 401, 2, 5, client) + iis_line(t, MRS, 401, 1, 2148074254, client)
            + iis_line(t, MRS, 401, 1, win32, client))


def _good_logon(t: str, client: str = "10.0.0.7") -> str:
    return (iis_line(t, "/owa/", 401, 2, 5, client) + iis_line(t, "/owa/", 401, 1, 2148074254, client)
            + iis_line(t, "/owa/", 200, 0, 0, client, user="MSXFAQ\\user1"))


LOG = (IIS_HEADER + _good_logon("09:59:00") + _failing_logon() + _good_logon("10:00:02")
       + iis_line("10:00:03", "/EWS/Exchange.asmx", 401, 1, 2148074248)
       + iis_line("10:00:04", "/Microsoft-Server-ActiveSync", 403, 7, 5)
       + iis_line("10:00:05", "/owa/", 200, 0, 0, agent="ua+401+x")).encode()


def test_findings_of_a_failure_log() -> None:
    result, findings = _scan(LOG)
    codes = {c: f.count for c, f in findings.by_code.items()}
    assert result.records == 12 and result.errors == []
    assert codes == {"ntlm-three-401": 1, "ntlm-bad-bindings": 1, "ntlm-invalid-token": 1,
                     "edge-client-cert-missing": 1}
    three = findings.by_code["ntlm-three-401"]
    assert three.examples == ["t.log:10"] and dict(three.endpoints) == {MRS: 1}
    assert dict(three.clients) == {"10.0.0.9": 1} and three.first == "2024-09-10T10:00:01"
    assert "401.1 win32 3221226331" in three.details


def test_result_does_not_depend_on_block_boundaries() -> None:
    want = {c: (f.count, f.examples) for c, f in _scan(LOG)[1].by_code.items()}

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.integers(1, 400), max_size=30))
    def check(chunks: list[int]) -> None:
        got = {c: (f.count, f.examples) for c, f in _scan(LOG, chunks=chunks)[1].by_code.items()}
        assert got == want

    check()


def test_fields_change_mid_file_with_xff_and_logged_bearer() -> None:
    second = ("#Fields: date time cs-uri-stem c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status "
              "X-Forwarded-For Request-Authorization\n"
              "2024-09-10 11:00:00 /EWS/Exchange.asmx 10.1.1.1 AMProbe/OAUTH/Exchange 401 0 0 40.99.157.189 "
              "Bearer+eyJhbGciOiJub25lIn0.eyJhdWQiOiJodHRwczovL293YS5leGFtcGxlIn0.\n")
    _, findings = _scan(LOG + second.encode())
    assert findings.by_code["ntlm-proxy-in-path"].clients == {"40.99.157.189": 1}
    assert "status 401.0" in findings.by_code["oauth-probe"].details
    (summary,) = findings.by_code["log-contains-credentials"].details
    assert summary == "Bearer aud=https://owa.example"


def test_filters_time_and_url() -> None:
    _, f = _scan(LOG, Filters(since=normalise_time("2024-09-10 10:00:03")))
    assert set(f.by_code) == {"ntlm-invalid-token", "edge-client-cert-missing"}
    _, f = _scan(LOG, Filters(url="*/ews/*"))
    assert set(f.by_code) == {"ntlm-three-401", "ntlm-bad-bindings", "ntlm-invalid-token"}


def test_three_401_without_win32_column() -> None:
    head = "#Fields: date time c-ip cs-uri-stem sc-status\n"
    lines = "".join(f"2024-09-10 10:00:0{i} 10.0.0.1 /x 401\n" for i in range(3))
    _, f = _scan((head + lines).encode())
    assert f.by_code["ntlm-three-401"].count == 1


def test_huge_line_and_records_before_fields() -> None:
    data = b"2024-09-10 no fields yet 401\n" + IIS_HEADER.encode() + b"x" * 200_000 + b"\n" + \
        _failing_logon().encode()
    result, f = _scan(data, chunks=[1000] * 300)
    assert any("before any #Fields" in e for e in result.errors)
    assert any("longer than" in e for e in result.errors)
    assert f.by_code["ntlm-three-401"].examples == ["t.log:9"]


def test_tmg_log_codes() -> None:
    head = ("#Software: Microsoft Forefront Threat Management Gateway 2010\n#Fields: c-ip cs-username c-agent "
            "date time s-svcname s-computername r-host r-port cs-protocol s-operation cs-uri sc-status rule\n")
    rows = ("10.10.10.9 anonymous DirSync 2013-12-20 17:44:55 w3proxy TMG01 adminwebservice.microsoftonline.com "
            "443 https-inspect POST adminwebservice.microsoftonline.com/provisioningservice.svc 12229 "
            "Anonymouse+Access+To+Web\n"
            "77.1.2.3 - Android 2013-12-20 17:45:00 w3reverseproxy TMG01 exch01 443 https GET "
            "/Microsoft-Server-ActiveSync 408 ActiveSync+KCD\n")
    _, f = _scan((head + rows).encode())
    assert set(f.by_code) == {"client-cert-under-inspection", "client-cert-requested-after-request",
                              "kcd-kdc-timeout-408"}
    assert "TMG 12229 rule Anonymouse Access To Web" in f.by_code["client-cert-under-inspection"].details


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 500), max_size=10))
def test_fuzz_scanner(noise: bytes, chunks: list[int]) -> None:
    # any bytes after a valid header, fed in any chunking: the same records, errors and findings as
    # fed at once, and never more records than lines after the header
    data = IIS_HEADER.encode() + noise + b"\n" + _failing_logon().encode()
    result, findings = _scan(data, chunks=chunks)
    whole, whole_findings = _scan(data)
    assert (result.records, result.errors) == (whole.records, whole.errors)
    assert {c: f.count for c, f in findings.by_code.items()} == {c: f.count for c, f in whole_findings.by_code.items()}
    assert 3 <= result.records <= data.count(b"\n") - IIS_HEADER.count("\n")
