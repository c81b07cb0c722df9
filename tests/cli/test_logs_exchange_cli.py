"""``bridgehead logs scan`` on Exchange HttpProxy CSV logs, MRS move reports and TMG Log Viewer text.

Files are written at run time into tmp_path. Sources of the wording:
- HttpProxy header: the ``#Software/#Version/#Log-type: HttpProxy Logs/#Date/#Fields`` lines and
  field list Exchange 2016/2019 write in ``Logging\\HttpProxy\\<Protocol>\\HttpProxy_*.LOG``
  (the same columns as Microsoft Sentinel's ExchangeHttpProxy_CL connector, Azure/Azure-Sentinel).
- .NET exception texts in GenericErrors: System.Net.WebException / AuthenticationException
  messages (learn.microsoft.com, "The remote certificate is invalid according to the validation
  procedure", "Could not establish trust relationship for the SSL/TLS secure channel",
  "No connection could be made because the target machine actively refused it").
- x-ms-diagnostics 2000003: Exchange's OAuth audience error as published in Microsoft's hybrid
  free/busy troubleshooting (techcommunity "Demystifying Hybrid Free/Busy").
- MRS report: the error of seed 002 (msxfaq, "MRS und Extended Protection": Exchange Online's
  move to an on-premises mrsproxy.svc behind a re-encrypting proxy), MRS's retry line
  ("Transient error … has occurred. The system will retry (n/60)") and "MRSProxy isn't enabled"
  (Test-MigrationServerAvailability, "Enable the MRS Proxy endpoint for remote moves",
  learn.microsoft.com).
- TMG Log Viewer text: the "Denied Connection … Status: 12229 … Rule: …" block of seed 000.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "bridgehead"
FIELDS = (
    "DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,Protocol,UrlHost,"
    "UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,AnchorMailbox,"
    "UserAgent,ClientIpAddress,ServerHostName,HttpStatus,BackEndStatus,ErrorCode,Method,ProxyAction,TargetServer,"
    "TargetServerVersion,RoutingType,RoutingHint,BackEndCookie,ServerLocatorHost,ServerLocatorLatency,RequestBytes,"
    "ResponseBytes,TargetOutstandingRequests,AuthModulePerfContext,HttpPipelineLatency,"
    "CalculateTargetBackEndLatency,GlsLatencyBreakup,TotalGlsLatency,AccountForestLatencyBreakup,"
    "TotalAccountForestLatency,ResourceForestLatencyBreakup,TotalResourceForestLatency,ADLatency,"
    "SharedCacheLatencyBreakup,TotalSharedCacheLatency,ActivityContextLifeTime,ModuleToHandlerSwitchingLatency,"
    "ClientReqStreamLatency,BackendReqInitLatency,BackendReqStreamLatency,BackendProcessingLatency,"
    "BackendRespInitLatency,BackendRespStreamLatency,ClientRespStreamLatency,KerberosAuthHeaderLatency,"
    "HandlerCompletionLatency,RequestHandlerLatency,HandlerToModuleSwitchingLatency,ProxyTime,CoreLatency,"
    "RoutingLatency,HttpProxyOverhead,TotalRequestTime,RouteRefresherLatency,UrlQuery,BackEndGenericInfo,"
    "GenericInfo,GenericErrors,EdgeTraceId,DatabaseGuid,UserADObjectGuid,PartitionEndpointLookupLatency,"
    "RoutingStatus"
).split(",")
HEADER = ("#Software: Microsoft Exchange Server\n#Version: 15.02.1544.004\n#Log-type: HttpProxy Logs\n"
          "#Date: 2024-09-10T10:00:00.000Z\n#Fields: " + ",".join(FIELDS) + "\n")
TRUST = ("WebExceptionStatus=TrustFailure;WebException=System.Net.WebException: The underlying connection was "
         "closed: Could not establish trust relationship for the SSL/TLS secure channel. ---> "
         "System.Security.Authentication.AuthenticationException: The remote certificate is invalid according to "
         "the validation procedure.")
REFUSED = ("WebExceptionStatus=ConnectFailure;WebException=System.Net.WebException: Unable to connect to the remote "
           "server ---> System.Net.Sockets.SocketException: No connection could be made because the target machine "
           "actively refused it 10.0.0.21:444")
AUDIENCE = ('x-ms-diagnostics: 2000003;reason="The hostname component of the audience claim value is invalid. '
            "Expected 'mail.contoso.com'. Actual 'hybrid.contoso.com'.\";error_category=\"invalid_resource\"")


def _row(when: str, stem: str, status: int, backend: str, error: str = "", generic: str = "",
         auth: str = "Negotiate", client: str = "52.97.1.2", protocol: str = "Ews") -> str:
    values = dict.fromkeys(FIELDS, "")
    values.update({"DateTime": f"2024-09-10T{when}.123Z", "RequestId": "5e58f5e5-1ddc-48d3-82c6-0199bc121640",
                   "MajorVersion": "15", "MinorVersion": "2", "Protocol": protocol, "UrlHost": "mail.contoso.com",
                   "UrlStem": stem, "AuthenticationType": auth, "IsAuthenticated": "false",
                   "ClientIpAddress": client, "ServerHostName": "EX01", "HttpStatus": str(status),
                   "BackEndStatus": backend, "ErrorCode": error, "Method": "POST", "ProxyAction": "Proxy",
                   "TargetServer": "EX02.contoso.local", "GenericInfo": "BeginRequest=2024-09-10T10:00:00Z;",
                   "GenericErrors": generic})
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([values[f] for f in FIELDS])
    return out.getvalue()


def _httpproxy_log() -> str:
    return HEADER + "".join([
        _row("10:00:00", "/EWS/Exchange.asmx", 200, "200"),  # fine
        _row("10:00:01", "/EWS/Exchange.asmx", 401, "401"),  # the normal first-leg challenge: no finding
        _row("10:00:02", "/EWS/Exchange.asmx", 401, "401", generic=AUDIENCE, auth="Bearer"),
        _row("10:00:03", "/EWS/mrsproxy.svc", 503, "", generic=TRUST),
        _row("10:00:04", "/EWS/mrsproxy.svc", 503, "", generic=REFUSED),
        _row("10:00:05", "/EWS/mrsproxy.svc", 503, "503"),  # the back end itself answered 503
        # constructed: an ErrorCode the registry's wording does not know → the generic front-end entry
        _row("10:00:06", "/mapi/emsmdb/", 401, "", error="UnknownAuthErrorX", protocol="Mapi"),
        _row("10:00:07", "/owa/", 500, "500", generic='Exception "with, commas" and ""quotes""'),
    ])


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=60)


def test_httpproxy_csv_findings(tmp_path: Path) -> None:
    log = tmp_path / "HttpProxy_2024091010-1.LOG"
    log.write_text(_httpproxy_log(), encoding="utf-8-sig")  # Exchange writes a BOM
    p = run("logs", "scan", "--json", str(log))
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["files"] == [{"path": str(log), "format": "httpproxy-csv", "records": 8, "errors": [],
                              "repaired_lines": 0}]
    found = {f["code"]: f for f in data["findings"]}
    assert {c: f["count"] for c, f in found.items()} == {
        "exchange-backend-unavailable": 3, "tls-cert-validation-failed": 1, "upstream-unreachable": 1,
        "oauth-audience-host-mismatch": 1, "exchange-frontend-auth-failed": 1}
    backend = found["exchange-backend-unavailable"]
    assert backend["examples"] == [f"{log}:9", f"{log}:10", f"{log}:11"]
    assert backend["endpoints"] == {"mail.contoso.com/EWS/mrsproxy.svc": 3}
    assert backend["details"] == {"HTTP 503 BackEnd -": 2, "HTTP 503 BackEnd 503": 1}
    assert found["oauth-audience-host-mismatch"]["first"] == "2024-09-10T10:00:02"
    assert found["exchange-frontend-auth-failed"]["details"] == {"HTTP 401 BackEnd - UnknownAuthErrorX": 1}
    assert "audience claim" not in json.dumps(found["oauth-audience-host-mismatch"]["details"])  # no raw text
    p = run("logs", "scan", "--json", str(log), "--url", "/mapi/*")
    assert {f["code"] for f in json.loads(p.stdout)["findings"]} == {"exchange-frontend-auth-failed"}


def _move_report() -> str:
    seed002 = (  # seed 002, as Exchange Online reported the move through a re-encrypting proxy
        "Error: CommunicationErrorTransientException: The call to 'https://mrs.msxfaq.net/EWS/mrsproxy.svc' "
        "failed. Error details: The HTTP request is unauthorized with client authentication scheme 'Negotiate'. "
        "The authentication header received from the server was 'Negotiate,NTLM'. --> The remote server returned "
        "an error: (401) Unauthorized.")
    return (
        "12/1/2024 9:14:35 AM [AM0PR01MB1234] The Microsoft Exchange Mailbox Replication service "
        "'AM0PR01MB1234.eurprd01.prod.outlook.com' (15.20.8005.10) is examining the request.\n"
        "12/1/2024 9:14:36 AM [AM0PR01MB1234] Connected to target mailbox 'contoso.onmicrosoft.com\\user1'.\n"
        "12/1/2024 9:15:02 AM [AM0PR01MB1234] Transient error CommunicationErrorTransientException has occurred. "
        "The system will retry (1/60).\n"
        f"12/1/2024 9:15:02 AM [AM0PR01MB1234] {seed002}\n"
        "12/1/2024 9:45:10 AM [AM0PR01MB1234] Fatal error MigrationPermanentException has occurred.\n"
        "    Error details: MRSProxy isn't enabled on mail.contoso.com.\n"
    )


def test_move_report_findings(tmp_path: Path) -> None:
    report = tmp_path / "user1-report.txt"
    report.write_text(_move_report())
    p = run("logs", "scan", "--json", str(report))
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert [(f["format"], f["records"], f["errors"]) for f in data["files"]] == [("move-report", 5, [])]
    found = {f["code"]: f for f in data["findings"]}
    assert found["mrs-transient-failure"]["count"] == 2  # the retry line and the retried error
    assert "CommunicationErrorTransientException" in found["mrs-transient-failure"]["details"]
    assert found["mrsproxy-disabled"]["examples"] == [f"{report}:5"]
    assert found["mrsproxy-disabled"]["first"] == "2024-12-01T09:45:10"
    assert found["ntlm-ep-terminating-proxy"]["examples"] == [f"{report}:4"]  # seed 002's cause


def test_move_statistics_list_and_csv(tmp_path: Path) -> None:
    listing = tmp_path / "movestats.txt"
    listing.write_text(
        "Identity          : contoso.onmicrosoft.com\\user2\n"
        "DisplayName       : User Two\n"
        "Status            : Failed\n"
        "StatusDetail      : FailedOther\n"
        "FailureType       : MigrationPermanentException\n"
        "Message           : Error: MRSProxy isn't enabled on mail.contoso.com.\n"
        "LastFailureTime   : 12/1/2024 10:02:11 AM\n"
        "\n"
        "Identity          : contoso.onmicrosoft.com\\user3\n"
        "Status            : InProgress\n"
        "StatusDetail      : CopyingMessages\n")
    exported = tmp_path / "movestats.csv"
    exported.write_text(
        '#TYPE Microsoft.Exchange.Data.Directory.Management.MoveRequestStatistics\n'
        '"DisplayName","Status","FailureType","Message","LastFailureTime"\n'
        '"User Four","Failed","MigrationTransientException","Transient error MigrationTransientException has '
        'occurred. The system will retry (12/60).","2024-12-01 11:00:00"\n'
        '"User Five","Completed","","",""\n')
    p = run("logs", "scan", "--json", str(listing), str(exported))
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert [(f["format"], f["records"]) for f in data["files"]] == [("move-report", 2), ("move-report", 2)]
    found = {f["code"]: f for f in data["findings"]}
    assert found["mrsproxy-disabled"]["clients"] == {"contoso.onmicrosoft.com\\user2": 1}
    assert found["mrsproxy-disabled"]["first"] == "2024-12-01T10:02:11"
    assert found["mrs-transient-failure"]["clients"] == {"User Four": 1}


def test_tmg_log_viewer_text_is_a_scan_format(tmp_path: Path) -> None:
    text = tmp_path / "tmg.txt"
    text.write_text(  # seed 000, as copied out of the TMG console
        "Denied Connection\n12/20/2013 11:44:55 AM\nLog type: Web Proxy (Forward)\n"
        "Status: 12229 The Web site requires a client certificate, but the client did not provide one.\n"
        "Rule: Anonymouse Access To Web Source: Internal (10.10.10.9:51269)\n"
        "Destination: External (157.56.55.72:443)\nRequest: POST adminwebservice.microsoftonline.com\n"
        "Protocol: https-inspect\nUser: anonymous\n")
    p = run("logs", "scan", "--json", str(text))
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["files"][0]["format"] == "tmg-text"
    found = {f["code"]: f for f in data["findings"]}  # TMG 12229 is both entries' TMG number
    assert set(found) == {"client-cert-under-inspection", "client-cert-requested-after-request"}
    assert found["client-cert-under-inspection"]["clients"] == {"10.10.10.9": 1}
    assert found["client-cert-under-inspection"]["details"] == {"TMG 12229 rule Anonymouse Access To Web": 1}
