"""Extended Protection through the inspecting proxy (issue 13 item 9, seed 002 on the forward side).

The IIS stand-in is ``bridgehead backend --ep require``; requests-ntlm computes the channel
binding over the certificate it sees, which under inspection is the leaf bridgehead minted. The
backend answers 401 (bad bindings); the proxy names it (``inspection-broke-channel-binding``,
"the inspection changed the TLS certificate the client bound to") and, with the default
``on_channel_binding_failure = "learn"``, learns the destination: the next connection is
tunnelled and the same logon succeeds. ``"log"`` only logs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import requests_ntlm

from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, Pki
from tests.support.procs import free_port, running

USER, PASSWORD = "CORP\\alice", "Passw0rd!"


@pytest.fixture(scope="module")
def ep_backend(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[int]:
    d = tmp_path_factory.mktemp("ep-backend")
    users = d / "users.txt"
    users.write_text(f"CORP:alice:{PASSWORD}\n")
    port = free_port()
    argv = [sys.executable, "-m", "bridgehead", "backend", "--listen", f"127.0.0.1:{port}", "--cert",
            str(pki.server.chain), "--key", str(pki.server.key), "--users", str(users), "--ep", "require",
            "--auth", "negotiate,ntlm"]
    with running(argv, port=port, log=d / "backend.log"):
        yield port


def _post(proxy, bundle: Path, port: int) -> requests.Response:  # type: ignore[no-untyped-def]
    with requests.Session() as s:
        s.trust_env = False
        return s.post(f"https://{ORIGIN_HOST}:{port}/EWS/mrsproxy.svc", data=b"not an MRS payload",
                      auth=requests_ntlm.HttpNtlmAuth(USER, PASSWORD), verify=str(bundle),
                      proxies={"https": proxy.url}, timeout=30)


def _bundle(tmp_path: Path, proxy, pki: Pki) -> Path:  # type: ignore[no-untyped-def]
    """Trust both the minted leaves (inspected) and the backend's own certificate (tunnelled)."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(proxy.ca.read_bytes() + pki.ca.cert.read_bytes())
    return bundle


def _bypass(proxy) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    out = subprocess.run([BRIDGEHEAD, "bypass", "list", "--state-dir", str(proxy.state), "--json"],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return list(json.loads(out))


def test_binding_over_the_minted_leaf_is_named_and_learned(tmp_path: Path, pki: Pki, start_proxy,
                                                           ep_backend: int) -> None:
    proxy = start_proxy()
    bundle = _bundle(tmp_path, proxy, pki)
    first = _post(proxy, bundle, ep_backend)
    assert first.status_code == 401
    records = proxy.records(expect=3)
    failed = [r for r in records if r.get("code") == "inspection-broke-channel-binding"]
    assert len(failed) == 1, records
    assert failed[0]["status"] == 401 and failed[0]["action"] == "inspect"
    reason = str(failed[0]["reason"])
    assert "the inspection changed the TLS certificate the client bound to" in reason
    assert "NTLM AUTHENTICATE from CORP\\alice" in reason and "will tunnel" in reason
    assert PASSWORD not in proxy.log.read_text() and "TlRMTVNTUAAD" not in proxy.log.read_text()
    (entry,) = _bypass(proxy)
    assert entry["destination"] == f"{ORIGIN_HOST}:{ep_backend}"
    assert entry["code"] == "inspection-broke-channel-binding"
    second = _post(proxy, bundle, ep_backend)
    assert second.status_code == 400  # authenticated, then the seed's "bad MRS payload"
    assert second.json()["binding_outcome"] == "match"
    # "match": the client bound to the backend's own certificate, so it was tunnelled, not inspected
    assert not any(r.get("code") == "inspection-broke-channel-binding" for r in proxy.records()[3:])


def test_log_mode_names_it_without_learning(tmp_path: Path, pki: Pki, start_proxy, ep_backend: int) -> None:
    config = tmp_path / "forward.toml"
    config.write_text('on_channel_binding_failure = "log"\n')
    proxy = start_proxy("--config", str(config))
    bundle = _bundle(tmp_path, proxy, pki)
    assert _post(proxy, bundle, ep_backend).status_code == 401
    assert _post(proxy, bundle, ep_backend).status_code == 401
    deadline = time.monotonic() + 10  # each tunnel is logged when it closes: wait for both records
    while True:
        failed = [r for r in proxy.records(expect=4) if r.get("code") == "inspection-broke-channel-binding"]
        if len(failed) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(failed) == 2 and all("will tunnel" not in str(r["reason"]) for r in failed)
    assert _bypass(proxy) == []


def test_bad_mode_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "forward.toml"
    config.write_text('on_channel_binding_failure = "ignore"\n')
    result = subprocess.run([BRIDGEHEAD, "forward", "--config", str(config), "--state-dir", str(tmp_path / "s")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "on_channel_binding_failure must be learn | log" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
