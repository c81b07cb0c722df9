"""``explain`` on the world's wording: ≥ 200 public error texts, and out-of-scope errors that must not match.

The texts and where each comes from are in ``tests/core/explain_corpus.py``. The bar is the
issue's: ≥ 95 % with the right top code, 100 % of the negative corpus unmatched. A stated
fact overrides a pattern (offered schemes, an explicit TLS alert, an X509 verify number).
"""

from __future__ import annotations

from bridgehead.core.explain import explain
from bridgehead.failures import REGISTRY
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
