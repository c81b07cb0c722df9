"""``explain`` on the world's wording: ≥ 200 public error texts, and out-of-scope errors that must not match.

The texts and where each comes from are in ``tests/core/explain_corpus.py``. The bar is the
issue's: ≥ 95 % with the right top code, 100 % of the negative corpus unmatched. A stated
fact overrides a pattern (offered schemes, an explicit TLS alert, an X509 verify number).
"""

from __future__ import annotations

from bridgehead.core.explain import explain
from bridgehead.failures import REGISTRY, by_x509
from bridgehead.failures.tls_alerts import ALERTS
from bridgehead.failures.wording import X509_NAMES
from tests.core.explain_corpus import CASES, NEGATIVE, SRC


def _top(text: str) -> str | None:
    result = explain(text)
    return result.matches[0].failure.code if result.matches else None


def test_corpus_is_large_sourced_and_names_registry_codes() -> None:
    assert len(CASES) >= 200
    assert all(source in SRC for _, _, source in CASES)
    assert {code for _, code, _ in CASES} <= REGISTRY.keys()
    assert len({text for text, _, _ in CASES}) == len(CASES), "duplicate texts"
    assert len({code for _, code, _ in CASES}) >= 50, "the corpus covers many failures, not a few"


def test_public_corpus_top_code() -> None:
    misses = [(code, _top(text), text[:100]) for text, code, _ in CASES if _top(text) != code]
    assert len(misses) <= len(CASES) * 0.05, misses
    assert misses == [], misses  # today every case passes; keep it so


def test_negative_corpus_matches_nothing() -> None:
    matched = {text[:60]: [m.failure.code for m in explain(text).matches] for text in NEGATIVE}
    assert {k: v for k, v in matched.items() if v} == {}
    assert len(NEGATIVE) >= 20


def test_handshake_step_numbers_are_not_failures() -> None:
    # IIS logs 401 2 5 and 401 1 2148074254 (SEC_E_NO_CREDENTIALS) for the normal NTLM challenge steps
    assert _top("401 1 2148074254") is None
    assert _top("sc-status 401 2 5") is None


def test_basic_only_is_not_extended_protection() -> None:
    ep = ("The HTTP request is unauthorized with client authentication scheme 'Negotiate'. The authentication "
          "header received from the server was '{}'. CommunicationErrorTransientException mrsproxy.svc")
    assert _top(ep.format("Negotiate,NTLM")) == "ntlm-ep-terminating-proxy"
    result = explain(ep.format('Basic realm="mail.example.com"'))
    assert result.matches[0].failure.code == "auth-basic-only"
    assert "ntlm-ep-terminating-proxy" in [m.failure.code for m in result.matches[1:]]  # a runner-up, not the answer


def test_explicit_alert_outweighs_generic_windows_number() -> None:
    text = ("System.ComponentModel.Win32Exception (0x80090326): The message received was unexpected or badly "
            "formatted. Schannel 36887: The TLS protocol defined fatal alert code is 48.")
    assert _top(text) == "tls-alert-48"
    assert _top("System.ComponentModel.Win32Exception (0x80090326): The message received was unexpected") \
        == "tls-alert-40"


def test_x509_number_decides_and_client_side_goes_to_the_edge() -> None:
    assert _top("SSL routines: certificate verify failed (X509_V_ERR 26)") == "upstream-cert-not-server"
    assert _top("client SSL certificate verify error: (10:certificate has expired)") == "edge-client-cert-expired"


def test_confidence_and_runner_up_are_reported() -> None:
    result = explain("curl: (60) SSL certificate problem: certificate has expired")
    data = result.as_dict()
    assert data["confidence"] > 0 and data["confidence_label"] in ("high", "medium", "low")
    assert data["runner_up"] == [m["code"] for m in data["matches"][1:]]
    one_phrase = explain("certificate has expired")
    stacked = explain("Verify return code: 10 (certificate has expired) X509_V_ERR_CERT_HAS_EXPIRED")
    assert one_phrase.matches[0].failure.code == stacked.matches[0].failure.code == "upstream-cert-expired"
    assert one_phrase.confidence < stacked.confidence and stacked.confidence_label == "high"


def test_every_x_ms_diagnostics_line_of_the_registry_names_its_entry() -> None:
    """Each registry entry that carries an Exchange diagnostic number, given the header line Exchange sends."""
    lines = [(entry.code, text) for entry in REGISTRY.values() if entry.ms_diagnostics is not None
             for text in entry.exchange if text.startswith("x-ms-diagnostics: ")]
    assert len({code for code, _ in lines}) >= 12  # 2000000…2000009, 2000020, 4000000
    assert [(code, _top(text)) for code, text in lines if _top(text) != code] == []
    beyond = {e.ms_diagnostics for e in REGISTRY.values() if e.ms_diagnostics} - set(range(2000000, 2000010))
    assert {2000020, 4000000} <= beyond


_SSLV3 = {10, 20, 40, 42, 43, 44, 45, 46, 47}  # OpenSSL prints these as "sslv3 alert ...", 116 as "tlsv13 ..."


def _alert_spellings(number: int) -> dict[str, str]:
    """Alert ``number`` as OpenSSL, Python, nginx, Java, Go, Schannel (events 36887/36888, old and new
    wording), PAN-OS and NSS print it (RFC 8446 §6; the table in failures/tls_alerts.py)."""
    rfc, go, nss, _ = ALERTS[number]
    prefix = "sslv3" if number in _SSLV3 else "tlsv13" if number == 116 else "tlsv1"
    openssl = f"{prefix} unrecognized name" if number == 112 else f"{prefix} alert {rfc.replace('_', ' ')}"
    out = {
        "openssl": f"error:0A000000:SSL routines::{openssl}",
        "python": f"[SSL: {openssl.upper().replace(' ', '_')}] {openssl} (_ssl.c:1006)",
        "nginx": f"SSL_do_handshake() failed (SSL: error:0A000000:SSL routines::{openssl}:SSL alert number {number})",
        "java": f"javax.net.ssl.SSLHandshakeException: Received fatal alert: {rfc}",
        "go": f"remote error: tls: {go}",
        "schannel": f"A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert "
                    f"code is {number}.",
        "schannel-old": f"The following fatal alert was received: {number}.",
        "schannel-36888": f"The following fatal alert was generated: {number}. The internal error state is 1205.",
        "panos": f"Received fatal alert {''.join(w.capitalize() for w in rfc.split('_'))} from server",
    }
    return {**out, "nss": nss} if nss else out


def test_every_alert_in_every_spelling() -> None:
    wrong = [(n, stack, _top(text)) for n in ALERTS for stack, text in _alert_spellings(n).items()
             if _top(text) != f"tls-alert-{n}"]
    assert wrong == []
    assert len(ALERTS) >= 20


def test_every_x509_error_by_number_and_name() -> None:
    """OpenSSL's verify errors as s_client, nginx and squid print them name the entry whose ``x509_errors``
    hold the number (include/openssl/x509_vfy.h)."""
    wrong = []
    for name, number in X509_NAMES.items():
        expected = by_x509(number)[0].code
        for text in (f"verify error:num={number}:x", f"Verify return code: {number} (x)", f"X509_V_ERR_{name}",
                     f"upstream SSL certificate verify error: ({number}:x) while SSL handshaking to upstream",
                     f"ERR_SECURE_CONNECT_FAIL (TLS code: X509_V_ERR_{name})"):
            if _top(text) != expected:
                wrong.append((number, text, _top(text)))
    assert wrong == []
