"""Parsers of bridgehead.wire for logs: W3C, FREB, Windows Event XML, Authorization summaries.

External truth: the public IIS samples in ../shared/testdata/iis (plaso, Apache-2.0; read in
place, never copied), pyspnego as an independent NTLM peer, PyJWT as token producer.
Hostile input: XML bombs and external entities refused, fuzzing never escapes the parsers'
own error types.
"""

from __future__ import annotations

import base64
from pathlib import Path

import jwt
import pytest
import spnego
from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.wire import authsummary, freb, w3c, winevent
from tests.support.logsamples import SEED_EVENT_XML, make_freb, ntlm_header

TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "iis"
if not TESTDATA.is_dir():
    TESTDATA = Path("/work/shared/testdata/iis")
SAMPLES = sorted(TESTDATA.glob("*.log")) if TESTDATA.is_dir() else []

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<failedRequest url="&lol3;"/>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Event>&x;</Event>"""


# -- W3C ------------------------------------------------------------------------------------

@pytest.mark.skipif(not SAMPLES, reason="../shared/testdata/iis not present")
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_iis_samples_parse_without_loss(path: Path) -> None:
    layout = None
    records = 0
    for raw in path.read_bytes().splitlines():
        if raw.startswith(b"#"):
            if raw.startswith(w3c.FIELDS_PREFIX):
                layout = w3c.parse_fields(raw)
            continue
        assert layout is not None
        parts, repaired = w3c.split_record(raw, layout)
        assert not repaired, raw
        assert len(parts) == len(layout.fields)
        assert w3c.as_int(layout.get(parts, "status")) is not None
        assert w3c.unescape(layout.get(parts, "date")).count("-") == 2
        records += 1
    assert records >= 3


@pytest.mark.skipif(not SAMPLES, reason="../shared/testdata/iis not present")
def test_iis_sample_edge_values() -> None:
    text = (TESTDATA / "iis_ipv6_zone.log").read_bytes()
    fields = next(line for line in text.splitlines() if line.startswith(b"#Fields"))
    layout = w3c.parse_fields(fields)
    rows = [w3c.split_record(line, layout)[0] for line in text.splitlines() if not line.startswith(b"#")]
    assert w3c.unescape(layout.get(rows[0], "server")) == "fe80::1ff:fe23:4567:890a%3"
    assert w3c.unescape(layout.get(rows[1], "client")) == "fe80::abcd:ef01:2345:6789%eth0"
    assert w3c.unescape(layout.get(rows[0], "user")) == "random\\ranuser1"  # after the double space
    edge = (TESTDATA / "iis10_edge_cases.log").read_bytes()
    wide = [line for line in edge.splitlines() if b" 401 1 " in line]
    layout = w3c.parse_fields(next(li for li in edge.splitlines() if li.startswith(b"#Fields")))
    assert any((w3c.as_int(layout.get(w3c.split_record(li, layout)[0], "win32")) or 0) >= 2**32 for li in wide)


def test_fields_roles_and_tmg_detection() -> None:
    layout = w3c.parse_fields(b"#Fields: c-ip cs-username c-agent sc-authenticated date time s-svcname "
                              b"s-computername cs-referred r-host r-ip r-port time-taken cs-bytes sc-bytes "
                              b"cs-protocol s-operation cs-uri cs-mime-type sc-status rule FilterInfo")
    assert layout.tmg
    assert layout.fields[layout.roles["url"]] == "cs-uri"
    assert layout.fields[layout.roles["agent"]] == "c-agent"
    iis = w3c.parse_fields(b"#Fields: date time cs-uri-stem sc-status X-Forwarded-For Request-Authorization")
    assert not iis.tmg and iis.roles["xff"] == 4 and iis.roles["auth"] == 5


def test_split_repairs_surplus_and_shortage() -> None:
    layout = w3c.parse_fields(b"#Fields: date time cs-uri-stem cs(User-Agent) sc-status")
    parts, repaired = w3c.split_record(b"2024-01-01 00:00:00 /x Mozilla 5.0 401", layout)
    assert repaired and parts[3] == b"Mozilla+5.0" and parts[4] == b"401"
    parts, repaired = w3c.split_record(b"2024-01-01 00:00:00", layout)
    assert repaired and len(parts) == 5 and layout.get(parts, "status") is None
    with pytest.raises(w3c.W3cFormatError):
        w3c.parse_fields(b"#Fields:   ")


@settings(max_examples=250, deadline=None)
@given(st.binary(max_size=400), st.lists(st.sampled_from(["date", "time", "sc-status", "cs-uri-stem",
                                                         "X-Forwarded-For", "cs(User-Agent)"]), min_size=1))
def test_fuzz_w3c(line: bytes, names: list[str]) -> None:
    layout = w3c.parse_fields(b"#Fields: " + " ".join(names).encode())
    parts, _ = w3c.split_record(line, layout)
    assert len(parts) == len(names)
    for role in layout.roles:
        w3c.unescape(layout.get(parts, role))
        w3c.as_int(layout.get(parts, role))


# -- FREB -----------------------------------------------------------------------------------

def test_freb_parse_and_peek() -> None:
    data = make_freb()
    root = freb.peek_root(data[:8192])
    assert root is not None and root["url"].endswith("/EWS/mrsproxy.svc") and root["statusCode"] == "401.1"
    trace = freb.parse(data)
    assert trace.verb == "POST" and trace.status == "401.1" and trace.auth_types == ["NTLM"]
    assert trace.header("x-forwarded-for") == "52.97.218.221"
    assert trace.time.startswith("2024-09-10T10:00:01")
    (err,) = trace.errors
    assert err.error_code == 0x80090346 and "channel bindings were incorrect" in err.error_text
    assert err.module == "WindowsAuthenticationModule" and err.status == "401.1"


@pytest.mark.parametrize("data", [BOMB, XXE, b"<failedRequest", b"", b"\x00\xff" * 50, b"<other/>"])
def test_freb_refuses_hostile_or_broken(data: bytes) -> None:
    with pytest.raises(freb.FrebError):
        freb.parse(data)


def test_freb_truncated_file() -> None:
    data = make_freb()
    with pytest.raises(freb.FrebError):
        freb.parse(data[: len(data) // 2])


@settings(max_examples=250, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_freb(data: bytes) -> None:
    try:
        freb.parse(data)
    except freb.FrebError:
        pass
    freb.peek_root(data)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 3000))
def test_fuzz_freb_truncation(cut: int) -> None:
    data = make_freb()[:cut]
    try:
        freb.parse(data)
    except freb.FrebError:
        pass


# -- Windows Event XML ----------------------------------------------------------------------

def test_seed_event_xml() -> None:
    (ev,) = winevent.parse(SEED_EVENT_XML.encode())
    assert ev.provider == "Directory Synchronization" and ev.event_id == "0" and ev.record_id == "1248"
    assert ev.time.startswith("2013-12-20T17:44:55") and ev.computer == "DIRSYNC.example.com"
    assert "(502) Proxy Error" in ev.text()


def test_events_back_to_back_wrapped_and_utf16() -> None:
    two = (SEED_EVENT_XML + SEED_EVENT_XML).encode()
    assert len(winevent.parse(two)) == 2
    wrapped = b"<Events>" + two + b"</Events>"
    assert len(winevent.parse(wrapped)) == 2
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?>' + SEED_EVENT_XML).encode("utf-16")
    assert winevent.parse(utf16)[0].provider == "Directory Synchronization"


@pytest.mark.parametrize("data", [BOMB.replace(b"failedRequest", b"Event"), XXE, b"<Event>", b"plain text"])
def test_event_xml_refuses_hostile_or_broken(data: bytes) -> None:
    with pytest.raises(winevent.EventXmlError):
        winevent.parse(data)


@settings(max_examples=250, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_event_xml(data: bytes) -> None:
    try:
        winevent.parse(data)
    except winevent.EventXmlError:
        pass


# -- Authorization summaries ----------------------------------------------------------------

def test_ntlm_summary_from_pyspnego_peer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("MSXFAQ:miguser:Passw0rd!\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    client = spnego.client("MSXFAQ\\miguser", "Passw0rd!", hostname="mrs.msxfaq.net", protocol="ntlm")
    server = spnego.server(protocol="ntlm")
    negotiate = client.step()
    assert negotiate is not None
    s1 = authsummary.summarize("NTLM " + base64.b64encode(negotiate).decode())
    assert s1["message"] == "NEGOTIATE"
    challenge = server.step(negotiate)
    assert challenge is not None
    authenticate = client.step(challenge)
    assert authenticate is not None
    value = "NTLM " + base64.b64encode(authenticate).decode()
    s3 = authsummary.summarize(value)
    assert (s3["message"], s3["domain"], s3["user"], s3["ntlm_version"]) == ("AUTHENTICATE", "MSXFAQ", "miguser",
                                                                             "v2")
    line = authsummary.one_line(s3)
    assert "MSXFAQ\\miguser" in line and base64.b64encode(authenticate).decode()[:40] not in line


def test_ntlm_summary_w3c_escaped_and_negotiate_wrapped() -> None:
    value = ntlm_header("miguser", "MSXFAQ", "PADPRO08MB6223")
    s = authsummary.summarize(value.replace(" ", "+", 1))
    assert (s["user"], s["workstation"]) == ("miguser", "PADPRO08MB6223")
    raw = base64.b64decode(value.split()[1])
    wrapped = b"\xa1\x82\x01\x00\x30\x82\x00\xfc\xa2\x82\x00\xf8\x04\x82\x00\xf4" + raw  # SPNEGO negTokenResp
    s = authsummary.summarize("Negotiate " + base64.b64encode(wrapped).decode())
    assert s["user"] == "miguser"


def test_bearer_summary_with_actor_token() -> None:
    actor = jwt.encode({"iss": "00000002-0000-0ff1-ce00-000000000000@tenant", "aud":
                        "00000002-0000-0ff1-ce00-000000000000/owa.example@tenant",
                        "nameid": "00000002-0000-0ff1-ce00-000000000000@tenant"}, "k" * 32, algorithm="HS256",
                       headers={"x5t": "abc"})
    outer = jwt.encode({"aud": "https://owa.example", "smtp": "user1@example.com", "actortoken": actor},
                       None, algorithm="none")
    s = authsummary.summarize("Bearer " + outer)
    assert s["smtp"] == "user1@example.com" and s["actor"]["x5t"] == "abc"
    assert s["actor"]["aud"].endswith("/owa.example@tenant")
    assert outer not in authsummary.one_line(s) and actor not in str(s)


@pytest.mark.parametrize("value", ["NTLM !!!", "Bearer abc.def", "Negotiate " + "A" * 100, "Digest x", "",
                                   "Basic " + base64.b64encode(b"u:secret").decode()])
def test_summary_of_junk_is_an_error_value(value: str) -> None:
    s = authsummary.summarize(value)
    assert "secret" not in str(s)
    authsummary.one_line(s)


@settings(max_examples=250, deadline=None)
@given(st.sampled_from(["NTLM ", "Negotiate ", "Bearer ", "Basic ", ""]), st.binary(max_size=300))
def test_fuzz_auth_summary(scheme: str, data: bytes) -> None:
    for payload in (base64.b64encode(data).decode(), base64.b64encode(b"NTLMSSP\x00\x03\x00\x00\x00" + data).decode(),
                    data.decode("latin-1")):
        authsummary.one_line(authsummary.summarize(scheme + payload))
