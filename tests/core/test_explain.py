"""Known-answer tests for ``explain``: the seeds' own failure texts must name the right registry entry.

The seed texts are read from ../shared/seeds at test time (skipped when absent); the
neighbours an admin meets next are spelled as Windows, OpenSSL, MIT/Heimdal and .NET print them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.core.explain import MAX_INPUT, explain, windows_numbers

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
if not SEEDS.is_dir():
    SEEDS = Path("/work/shared/seeds")


def _seed(prefix: str) -> str:
    files = sorted(SEEDS.glob(f"{prefix}_*.txt")) if SEEDS.is_dir() else []
    if not files:
        pytest.skip("seed texts not present (../shared/seeds)")
    return files[0].read_text(encoding="utf-8")


def _excerpt(prefix: str, pattern: str) -> str:
    m = re.search(pattern, _seed(prefix), re.S)
    assert m is not None, f"seed {prefix} lacks {pattern!r}"
    return m.group(0)


def _best(text: str) -> str:
    result = explain(text)
    assert result.matches, f"nothing matched {text[:80]!r}"
    return result.matches[0].failure.code


SEED_CASES = [
    ("000", r"The remote server returned an unexpected response: \(502\) Proxy Error \([^)]*\)\.",
     "client-cert-under-inspection"),
    ("000", r"<Event xmlns=.*?</Event>", "client-cert-under-inspection"),
    ("000", r"Status: 12229[^\n]*", "client-cert-under-inspection"),
    ("001", r"Status: 12229[^\n]*", "client-cert-under-inspection"),
    ("002", r"Error: CommunicationErrorTransientException.*?\(401\) Unauthorized\.", "ntlm-ep-terminating-proxy"),
    ("002", r"Client's supplied SSPI channel bindings were incorrect\. \(0x80090346\)", "ntlm-bad-bindings"),
    ("003", r"System\.Net\.WebException: The remote name could not be resolved: '[^']*'", "oauth-name-not-resolved"),
    ("003", r"System\.Net\.WebException: The remote server returned an error: \(404\) Not Found\.",
     "oauth-endpoint-not-ews"),
    ("003", r"System\.Net\.WebException: The underlying connection was closed.*?remote host",
     "oauth-connection-reset"),
    ("003", r"Test-OAuthConnectivity: Ex6F9304\|[^|]*\|[^\n]*", "oauth-mailbox-not-found"),
    ("003", r"diagnostics: 2000009;reason=\"[^\"]*\";error_category=\"invalid_issuer\"", "oauth-unknown-issuer"),
    ("003", r"diagnostics: 2000003;reason=\"The hostname component of the audience claim value 'https://[^']*' "
            r"is invalid\";error_category=\"invalid_resource\"", "oauth-host-header-missing"),
    ("003", r"diagnostics: 2000003;reason=\"The hostname component of the audience claim value is invalid\. "
            r"Expected[^\"]*\";error_category=\"invalid_resource\"", "oauth-audience-host-mismatch"),
    ("003", r"Federation or Auth certificate not found", "oauth-auth-cert-missing"),
    ("004", r"When I tested I experienced 401/403[^.\u2013]*", "kcd-delegated-401-403"),
    ("004", r"I also saw a 408 timeout error[^.]*\.", "kcd-kdc-timeout-408"),
    ("004", r"401 \u2013 Unauthorized: Access is denied due to invalid credentials\.", "kcd-delegated-401-403"),
    ("004", r"decided to Revoke the certificate, it took several hours[^.]*\.", "revocation-cache-hours"),
]


@pytest.mark.parametrize(("seed", "pattern", "code"), SEED_CASES)
def test_seed_text_names_the_right_cause(seed: str, pattern: str, code: str) -> None:
    assert _best(_excerpt(seed, pattern)) == code


NEIGHBOURS = [
    ("The token supplied to the function is invalid (0x80090308)", "ntlm-invalid-token"),
    ("401 1 2148074248", "ntlm-invalid-token"),
    ("SEC_E_WRONG_PRINCIPAL: The target principal name is incorrect.", "ntlm-wrong-principal"),
    ("NTSTATUS 0xC000035B", "ntlm-bad-bindings"),
    ("sc-status 401 1 3221226331", "ntlm-bad-bindings"),
    ("error 2148074310", "ntlm-bad-bindings"),
    ("hr=-2146892986", "ntlm-bad-bindings"),
    ("0xC000006D The user name or password is incorrect", "ntlm-logon-failure"),
    ("KRB5KRB_AP_ERR_SKEW: Clock skew too great", "krb-clock-skew"),
    ("KRB5KDC_ERR_BADOPTION: KDC can't fulfill requested option", "krb-badoption"),
    ("kinit: Server not found in Kerberos database while getting initial credentials", "krb-principal-unknown"),
    ("KDC_ERR_S_PRINCIPAL_UNKNOWN", "krb-principal-unknown"),
    ("[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure", "tls-alert-40"),
    ("A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is 42.",
     "tls-alert-42"),
    ("[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)", "tls-alert-48"),
    ("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required", "tls-alert-116"),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired", "upstream-cert-expired"),
    ("certificate verify failed: unable to get local issuer certificate", "upstream-cert-untrusted"),
    ("certificate verify failed: Hostname mismatch, certificate is not valid for 'a.example'",
     "upstream-cert-name-mismatch"),
    ("The remote certificate is invalid according to the validation procedure.", "tls-cert-validation-failed"),
    ("Could not establish trust relationship for the SSL/TLS secure channel with authority 'x'.",
     "tls-cert-validation-failed"),
    ("Status: 12202 Forefront TMG denied the specified Uniform Resource Locator (URL).", "tmg-12202"),
    ("Status: 12209 Proxy Authentication Required", "tmg-12209"),
    ("12224", "upstream-cert-not-yet-valid"), ("12225", "upstream-cert-expired"),
    ("12226", "upstream-cert-untrusted"), ("12227", "upstream-cert-name-mismatch"),
    ("12228", "upstream-cert-not-server"), ("12229", "client-cert-under-inspection"),
    ("12230", "upstream-cert-revoked"),
    ("The Microsoft Exchange Server Auth Certificate has expired", "oauth-auth-cert-expired"),
    ('x-ms-diagnostics: 2000002;reason="The token has expired.";error_category="token_expired"',
     "oauth-token-expired"),
]


@pytest.mark.parametrize(("text", "code"), NEIGHBOURS)
def test_neighbours(text: str, code: str) -> None:
    assert _best(text) == code


def test_three_spellings_give_one_code_with_all_forms() -> None:
    for text in ("0x80090346", "2148074310", "-2146892986"):
        result = explain(f"error {text}")
        assert result.matches[0].failure.code == "ntlm-bad-bindings"
        code = result.evidence["codes"][0]
        assert (code["hex"], code["unsigned"], code["signed"]) == ("0x80090346", 2148074310, -2146892986)
        assert any("SEC_E_BAD_BINDINGS" in n for n in code["names"])


def test_evidence_of_the_mrs_error() -> None:
    result = explain(_excerpt("002", r"Error: CommunicationErrorTransientException.*?\(401\) Unauthorized\."))
    assert "mrs.msxfaq.net" in result.evidence["hosts"]
    assert 401 in result.evidence["status"]


def test_audience_evidence_and_scheme_only_difference() -> None:
    text = ('2000003;reason="The hostname component of the audience claim value is invalid. '
            "Expected 'https://owa.example'. Actual 'http://owa.example'.\";error_category=\"invalid_resource\"")
    result = explain(text)
    assert result.evidence["audience"] == {"expected": "https://owa.example", "actual": "http://owa.example"}
    assert result.matches[0].failure.code == "oauth-host-header-missing"  # only the scheme differs: offloading


def test_authorization_value_is_summarised_never_echoed() -> None:
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.support.logsamples import ntlm_header

    header = ntlm_header("miguser", "MSXFAQ", "PADPRO08MB6223")
    result = explain(f"Authorization: {header}\nClient's supplied SSPI channel bindings were incorrect.")
    summary = result.evidence["authorization"][0]
    assert "MSXFAQ\\miguser" in summary and "PADPRO08MB6223" in summary
    assert header.split()[1] not in str(result.as_dict())


def test_unknown_input_matches_nothing() -> None:
    assert explain("the weather is fine today").matches == []


def test_huge_input_is_capped() -> None:
    result = explain("a" * (MAX_INPUT + 10) + " 0x80090346")
    assert result.truncated and result.matches == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_fuzz_explain_never_fails(text: str) -> None:
    result = explain(text)
    assert isinstance(result.as_dict()["matches"], list)
    assert all(0 <= v < 2**32 for v in windows_numbers(text))
