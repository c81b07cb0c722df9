"""The access log's ``action``: ``deny`` is for policy (bridgehead refuses), ``error`` for failing to
reach or talk to the origin (issue 16 item 7): an unresolvable or closed destination is an error,
an untrusted certificate a deny."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridgehead.core.forward_policy import refusal_action
from tests.runtime.forward.conftest import ORIGIN_HOST, Pki, curl, status_of
from tests.support.procs import free_port


def test_unreachable_and_unresolvable_are_errors(pki: Pki, start_proxy) -> None:
    proxy = start_proxy()
    closed = free_port()
    for url, code in ((f"https://{ORIGIN_HOST}:{closed}/", "upstream-unreachable"),
                      ("https://no-such-host.invalid/", "upstream-dns-failed"),
                      ("http://no-such-host.invalid/plain", "upstream-dns-failed")):
        result = curl(pki, proxy, url, "-i", cacert=proxy.ca)
        assert status_of(result) == 502 and code in result.stdout, result.stdout
    records = proxy.records(expect=3)
    assert [(r["code"], r["action"]) for r in records] == [
        ("upstream-unreachable", "error"), ("upstream-dns-failed", "error"), ("upstream-dns-failed", "error")]


@pytest.mark.parametrize(("code", "action"), [
    ("upstream-dns-failed", "error"), ("upstream-unreachable", "error"), ("upstream-timeout", "error"),
    ("upstream-tls-failed", "error"), ("upstream-bad-response", "error"),
    ("upstream-cert-expired", "deny"), ("upstream-cert-untrusted", "deny"), ("upstream-cert-revoked", "deny"),
    ("client-cert-under-inspection", "deny"), ("client-bad-request", "deny"),
])
def test_refusal_action_table(code: str, action: str) -> None:
    assert refusal_action(code) == action


def test_every_code_is_a_registry_entry(tmp_path: Path) -> None:
    from bridgehead.core.forward_policy import ORIGIN_ERRORS
    from bridgehead.failures import get

    for code in ORIGIN_ERRORS:
        assert get(code).code == code
