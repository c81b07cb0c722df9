"""The HttpProxy field parser, the MRS move report parser and the event message renderer: shapes and fuzz."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.core.logscan import FileResult, Filters, Findings, HttpProxyScanner, move_report_findings
from bridgehead.wire import eventmessages, exchangelog, movereport


def test_fields_line_columns_case_insensitive() -> None:
    cols = exchangelog.parse_fields("#Fields: DateTime,RequestId,HttpStatus,BackendStatus,ErrorCode,GenericErrors")
    assert cols == {"datetime": 0, "httpstatus": 2, "backendstatus": 3, "errorcode": 4, "genericerrors": 5}
    assert exchangelog.looks_like("#Software: Microsoft Exchange Server\n#Log-type: HttpProxy Logs\n")
    assert not exchangelog.looks_like("#Software: Microsoft Internet Information Services 10.0\n#Fields: date time\n")


def test_report_lines_continue_and_times() -> None:
    entries = movereport.parse("12/1/2024 9:15:02 PM [SRV] Transient error X has occurred.\n   more detail\n"
                               "12/31/2024 12:00:01 AM [SRV] done\n")
    assert [(e.line, e.time, e.text) for e in entries] == [
        (1, "2024-12-01T21:15:02", "Transient error X has occurred.\nmore detail"),
        (3, "2024-12-31T00:00:01", "done")]


def test_render_named_positional_and_unknown() -> None:
    assert eventmessages.render("Schannel", "36887", [("AlertDesc", "48")]) == (
        "A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is 48.")
    kdc = eventmessages.render("KDC", 16, [("", "HTTP/a"), ("", "svc"), ("", "8"), ("", "18"), ("", "23")])
    assert kdc is not None and "target server HTTP/a, the account svc" in kdc and "were 23." in kdc
    assert eventmessages.render("Schannel", "36888", []) is None
    assert eventmessages.render("Other", "1", [("a", "b")]) is None
    assert eventmessages.render("Schannel", "x", [("a", "b")]) is None


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=2000))
def test_fuzz_move_report_parser(text: str) -> None:
    entries = movereport.parse(text)
    assert all(e.line >= 1 for e in entries)
    findings = Findings()
    assert move_report_findings(entries, "r.txt", findings, Filters()) == len(entries)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.text(max_size=40), max_size=14), max_size=20))
def test_fuzz_httpproxy_rows(rows: list[list[str]]) -> None:
    result, findings = FileResult("h.log", "httpproxy-csv"), Findings()
    scanner = HttpProxyScanner(result, findings, Filters())
    scanner.fields(exchangelog.parse_fields("#Fields: DateTime,UrlHost,UrlStem,ClientIpAddress,HttpStatus,"
                                            "BackEndStatus,ErrorCode,GenericErrors"))
    for i, values in enumerate(rows, 1):
        scanner.row(values, i)
    assert result.records == len(rows) and result.errors == []
