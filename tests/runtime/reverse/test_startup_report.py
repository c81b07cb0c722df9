"""What ``bridgehead reverse`` says at start-up and what ``lint`` finds about a route's backend
(issue 16 items 2 and 5): a backend that sends a CertificateRequest (nginx ``ssl_verify_client on``)
to a route without a bridging certificate is warned about at start, is a ``lint --probe`` finding,
and each request through it is logged with ``route-backend-requires-client-cert``; the banner's
Extended Protection wording follows the route's declared setting and shows the pinned address."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.runtime.reverse.conftest import BRIDGEHEAD, Pki, Reverse, curl, listener, nginx_backend, status_of


def _route(pki: Pki, port: int, *, name: str = "app", paths: str = '"/"', extra: str = "") -> str:
    return (f'\n[[route]]\nname = "{name}"\nhosts = ["localhost"]\npaths = [{paths}]\nmode = "reencrypt"\n'
            f'backend = "https://localhost:{port}"\nbackend_address = "127.0.0.1:{port}"\n'
            f'backend_ca = "{pki.internal.cert}"\n{extra}')


def _banner(proxy: Reverse, text: str = "access log:") -> str:
    deadline = time.monotonic() + 15
    while text not in proxy.out.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proxy.out.read_text()


@pytest.fixture(scope="module")
def requiring(tmp_path_factory: pytest.TempPathFactory, pki: Pki):  # type: ignore[no-untyped-def]
    with nginx_backend(tmp_path_factory.mktemp("nginx-verify"), pki, verify="on") as port:
        yield port


def test_backend_requiring_client_cert_warned_linted_and_logged(pki: Pki, requiring: int, start_reverse) -> None:
    text = listener(pki) + _route(pki, requiring)
    proxy = start_reverse(text)
    banner = _banner(proxy)
    warning = [line for line in banner.splitlines() if "route-backend-requires-client-cert" in line]
    assert warning and "app" in warning[0] and "bridging_certificate" in warning[0], banner
    r = curl(pki, f"https://localhost:{proxy.port}/x")
    assert status_of(r) in (400, 403, 502), r.stdout
    (rec,) = proxy.records(action=None, expect=2)[-1:]
    assert rec["route"] == "app" and rec["code"] == "route-backend-requires-client-cert", rec
    lint = subprocess.run([BRIDGEHEAD, "lint", "--config", str(proxy.config), "--probe", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert lint.returncode == 1, lint.stdout + lint.stderr
    report = json.loads(lint.stdout)
    assert report["routes"]["app"]["backend_requests_client_cert"] is True
    assert [f["severity"] for f in report["findings"] if f["code"] == "route-backend-requires-client-cert"] == [
        "error"]


def test_bridging_certificate_silences_the_warning(pki: Pki, requiring: int, start_reverse) -> None:
    bridging = f'bridging_certificate = {{ cert = "{pki.bridging.cert}", key = "{pki.bridging.key}" }}\n'
    proxy = start_reverse(listener(pki) + _route(pki, requiring, extra=bridging))
    banner = _banner(proxy)
    assert "route-backend-requires-client-cert" not in banner
    r = curl(pki, f"https://localhost:{proxy.port}/x")
    assert status_of(r) == 200, r.stdout
    (rec,) = proxy.records(action="publish")
    assert rec.get("code") is None


@pytest.mark.parametrize(("ep", "says", "never"), [
    ("none", "Extended Protection is none", "would fail"),
    ("require", "Extended Protection (require) fails", "is none"),
    ("unknown", "if the backend uses Extended Protection", "is none"),
])
def test_banner_ep_wording_follows_the_declared_setting(pki: Pki, tmp_path: Path, start_reverse, ep: str,
                                                        says: str, never: str) -> None:
    with nginx_backend(tmp_path, pki) as port:
        proxy = start_reverse(listener(pki) + _route(pki, port, extra=f'backend_extended_protection = "{ep}"\n'))
        banner = _banner(proxy)
    line = next(x for x in banner.splitlines() if x.strip().startswith("backend of app"))
    assert "different certificate" in line.lower() and says in line and never not in line, banner
    route_line = next(x for x in banner.splitlines() if x.strip().startswith("route app"))
    assert f"https://localhost:{port} via 127.0.0.1:{port}" in route_line, banner
