"""``explain`` knows bridgehead's own words: every code, its headers, its pages' status lines.

Every page bridgehead serves names its code and says "run bridgehead explain CODE": that
must answer with the same code, also for the status line alone, shortened or reworded.
"""

from __future__ import annotations

import pytest

from bridgehead.core.errorpage import CODE_HEADER, TMG_HEADER, render
from bridgehead.core.explain import explain, listing
from bridgehead.failures import REGISTRY


def _top(text: str) -> str | None:
    result = explain(text)
    return result.matches[0].failure.code if result.matches else None


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_every_code_is_explained_in_every_form(code: str) -> None:
    failure = REGISTRY[code]
    page = render(code, detail="detail text", host="host.example").decode("latin-1")
    status_line = page.split("\r\n", 1)[0]
    assert _top(code) == code
    assert _top(f"  `{code}`\n") == code
    assert _top(f"{CODE_HEADER}: {code}") == code
    assert _top(page) == code, "a whole page (head + HTML) names its own code"
    assert _top(status_line) == code
    # shortened, as a client shows it in a narrow column: at least 30 characters of the title kept
    cut = status_line[: status_line.index("( ") + 2] + failure.title[: max(30, len(failure.title) * 2 // 3)] + "…"
    if failure.title[: max(30, len(failure.title) * 2 // 3)] != failure.title:
        assert _top(cut) in (code, *[c for c, f in REGISTRY.items() if f.title.startswith(cut[cut.index("( ") + 2:-1])])


def test_tmg_status_header_and_number() -> None:
    assert _top(f"{TMG_HEADER}: 12225") == "upstream-cert-expired"
    assert _top("TMG status 12227") == "upstream-cert-name-mismatch"
    assert _top("12213") == "edge-client-cert-missing"


@pytest.mark.parametrize(("text", "code"), [
    ("The remote server returned an error: (502) Proxy Error ( The server certificate has expired. ).",
     "upstream-cert-expired"),
    ("(502) Proxy Error ( The web site requires a client certificate that cannot be supplied under HTTPS insp…",
     "client-cert-under-inspection"),
    ("HTTP/1.1 502 Proxy Error (server certificate expired)", "upstream-cert-expired"),
    ("got 502: the server certificate was issued by a CA which is not trusted", "upstream-cert-untrusted"),
    ("HTTP/1.1 403 Forbidden (the client certificate was revoked)", "edge-client-cert-revoked"),
])
def test_reworded_status_lines(text: str, code: str) -> None:
    assert _top(text) == code


def test_listing_has_every_code_with_title_and_platform_numbers() -> None:
    rows = listing()
    assert [r["code"] for r in rows] == list(REGISTRY)
    assert all(r["title"] for r in rows)
    bindings = next(r for r in rows if r["code"] == "ntlm-bad-bindings")
    assert bindings["hresult"] == ["0x80090346"] and bindings["ntstatus"] == ["0xC000035B"]
    expired = next(r for r in rows if r["code"] == "upstream-cert-expired")
    assert expired["x509_errors"] == [10] and expired["tmg"] == 12225


def test_confidence_and_runner_up() -> None:
    strong = explain("Client's supplied SSPI channel bindings were incorrect. (0x80090346)")
    assert strong.confidence_label == "high" and strong.as_dict()["confidence"] >= 0.7
    weak = explain("certificate error")
    assert weak.confidence < strong.confidence
