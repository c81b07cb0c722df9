"""Seed 002 through bridgehead's own reverse proxy: requests + requests-ntlm (sends channel
bindings) against `bridgehead backend` with Extended Protection Allow/Require.

* passthrough (SNI, layer 4) and re-encryption with the backend's own certificate succeed
  (the NTLM three-leg handshake also proves connection affinity: one backend connection per
  client connection);
* re-encryption with another certificate fails with 401 under Allow and Require, and
  ``bridgehead lint --probe`` predicted it (route-ep-cert-mismatch) before any client tried;
* with Extended Protection None, NTLM through re-encryption with another certificate works.

The backend answers 400 to the seed's non-MRS POST body once the logon succeeded.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import pytest
import requests
import requests_ntlm

from tests.runtime.reverse.conftest import BRIDGEHEAD, PASSWORD, USER, Pki, bh_backend, curl, listener, status_of


class _Backends:
    """Starts one `bridgehead backend` per Extended Protection setting a test asks for. Fresh per test:
    the backend keys NTLM state by the client's (ip, port), and on loopback (tcp_tw_reuse=2) a new
    proxy's backend connection can reuse the port of an earlier authenticated one before the backend
    forgot it (reported to the backend's owner)."""

    def __init__(self, tmp: Path, pki: Pki, stack: contextlib.ExitStack) -> None:
        self.tmp, self.pki, self.stack, self.ports = tmp, pki, stack, {}  # type: ignore[var-annotated]

    def __getitem__(self, ep: str) -> int:
        if ep not in self.ports:
            self.ports[ep] = self.stack.enter_context(bh_backend(self.tmp, self.pki, ep=ep))
        return int(self.ports[ep])


@pytest.fixture
def backends(tmp_path: Path, pki: Pki):  # type: ignore[no-untyped-def]
    with contextlib.ExitStack() as stack:
        yield _Backends(tmp_path, pki, stack)


def _config(pki: Pki, mode: str, port: int, ep: str) -> str:
    cert = pki.backend if mode == "same" else pki.edge
    real_mode = "passthrough" if mode == "passthrough" else "reencrypt"
    paths = "" if mode == "passthrough" else 'paths = ["/EWS/"]\n'
    return listener(pki, cert=cert) + (
        f'\n[[route]]\nname = "mrs"\nhosts = ["localhost"]\n{paths}mode = "{real_mode}"\n'
        f'backend = "https://localhost:{port}"\nbackend_ca = "{pki.internal.cert}"\n'
        f'backend_extended_protection = "unknown"\n')


def _post(pki: Pki, port: int, mode: str) -> requests.Response:
    verify = str(pki.public.cert if mode == "other" else pki.internal.cert)
    with requests.Session() as s:
        return s.post(f"https://localhost:{port}/EWS/mrsproxy.svc", data=b"not an MRS payload",
                      auth=requests_ntlm.HttpNtlmAuth(USER, PASSWORD), verify=verify, timeout=20)


def _lint(config: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = subprocess.run([BRIDGEHEAD, "lint", "--config", str(config), "--json", *args], capture_output=True,
                       text=True, timeout=60, env={"BRIDGEHEAD_PROBE_PASSWORD": PASSWORD, "PATH": "/usr/bin:/bin"})
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


@pytest.mark.parametrize("ep", ["allow", "require"])
@pytest.mark.parametrize("mode,expected", [("passthrough", 400), ("same", 400), ("other", 401)])
def test_seed_002_outcomes_and_lint_prediction(pki: Pki, backends, start_reverse, ep: str, mode: str,  # type: ignore[no-untyped-def]
                                               expected: int) -> None:
    proxy = start_reverse(_config(pki, mode, backends[ep], ep))
    r = _post(pki, proxy.port, mode)
    assert r.status_code == expected, r.text
    status, report = _lint(proxy.config, "--probe", "--user", USER)
    codes = {f["code"] for f in report["findings"] if f["severity"] == "error"}
    if mode == "other":  # lint --probe predicts it from the backend alone
        assert "route-ep-cert-mismatch" in codes and status == 1
        assert report["routes"]["mrs"]["extended_protection"] == ep
        assert report["routes"]["mrs"]["same_certificate"] is False
    else:
        assert "route-ep-cert-mismatch" not in codes and status == 0
    if mode == "same":
        assert report["routes"]["mrs"]["same_certificate"] is True
    if expected == 400:
        assert r.json()["user"] == USER and r.json()["code"] == "mrs-authenticated-bad-request"
    if mode != "passthrough":
        (check,) = proxy.records(action="backend-check")
        assert check["same_certificate"] is (mode == "same")
    else:
        # a tunnel is logged when both sides have closed: curl exits, requests' pool may linger
        seen = curl(pki, f"https://localhost:{proxy.port}/EWS/mrsproxy.svc", cacert=pki.internal.cert)
        assert status_of(seen) == 401  # the backend's own challenge, end to end
        tunnel = proxy.records(action="tunnel", timeout=10)[-1]
        assert tunnel["mode"] == "passthrough" and tunnel["route"] == "mrs"


def test_ntlm_through_reencryption_works_without_extended_protection(pki: Pki, backends, start_reverse) -> None:  # type: ignore[no-untyped-def]
    proxy = start_reverse(_config(pki, "other", backends["none"], "none"))
    r = _post(pki, proxy.port, "other")
    assert r.status_code == 400 and r.json()["user"] == USER
    # all three legs of the handshake were relayed on one client connection → one backend connection
    records = proxy.records(expect=3, action="publish")
    assert [x["status"] for x in records] == [401, 401, 400]
    assert len({x["client"] for x in records}) == 1


def test_declared_extended_protection_is_flagged_offline(pki: Pki, backends, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "declared.toml"
    config.write_text(listener(pki).replace("{port}", "8443") + (
        '\n[[route]]\nname = "ews"\nhosts = ["mail.example.test"]\npaths = ["/EWS/"]\nmode = "offload"\n'
        'backend = "http://ex01.internal.test:80"\nbackend_extended_protection = "require"\n'))
    status, report = _lint(config)
    codes = {f["code"] for f in report["findings"]}
    assert status == 1 and {"route-ep-cert-mismatch", "route-offload-oauth"} <= codes
