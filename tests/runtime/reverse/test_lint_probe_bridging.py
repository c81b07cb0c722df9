"""``lint --probe`` against a backend that requires a client certificate (seed 004: the ActiveSync
virtual directory set to *Require*, TMG's "Bridging" tab). A real ``openssl s_server -Verify 1
-verify_return_error`` trusts the internal CA: with the route's bridging certificate (issued by that CA)
lint passes, without one it names ``route-backend-requires-client-cert``, with a certificate the backend
does not trust it names the backend's TLS alert by the one classify step's code (TLS 1.2 and 1.3)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.reverse.conftest import BRIDGEHEAD, Pki, listener
from tests.support.procs import free_port, running


def _route(pki: Pki, port: int, bridging: tuple[Path, Path] | None) -> str:
    text = ('\n[[route]]\nname = "eas"\nhosts = ["mail.example.test"]\npaths = ["/Microsoft-Server-ActiveSync"]\n'
            f'mode = "reencrypt"\nbackend = "https://ex01.internal.test:{port}"\nbackend_address = "127.0.0.1:{port}"\n'
            f'backend_ca = "{pki.internal.cert}"\n')
    if bridging:
        text += f'bridging_certificate = {{ cert = "{bridging[0]}", key = "{bridging[1]}" }}\n'
    return text


def _lint(tmp_path: Path, pki: Pki, port: int, bridging: tuple[Path, Path] | None) -> tuple[int, dict[str, Any]]:
    config = tmp_path / f"reverse-{bool(bridging)}.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n'
                      + listener(pki).replace("{port}", str(free_port())) + _route(pki, port, bridging))
    done = subprocess.run([BRIDGEHEAD, "lint", "--config", str(config), "--probe", "--json"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def _errors(report: dict[str, Any]) -> list[str]:
    return [f["code"] for f in report["findings"] if f["severity"] == "error"]


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_lint_probe_presents_the_bridging_certificate(pki: Pki, tmp_path: Path, version: str) -> None:
    port = free_port()
    argv = ["openssl", "s_server", "-www", "-accept", f"127.0.0.1:{port}", "-cert", str(pki.backend.cert), "-key",
            str(pki.backend.key), "-Verify", "1", "-verify_return_error", "-CAfile", str(pki.internal.cert), version]
    with running(argv, port=port, log=tmp_path / "s_server.log"):
        rc, report = _lint(tmp_path, pki, port, (pki.bridging.cert, pki.bridging.key))
        assert rc == 0 and _errors(report) == [], report
        assert report["routes"]["eas"]["backend_requests_client_cert"] is True
        assert any("accepted the route's bridging certificate" in f["message"] for f in report["findings"])
        rc, report = _lint(tmp_path, pki, port, None)
        assert rc == 1 and _errors(report) == ["route-backend-requires-client-cert"], report
        rc, report = _lint(tmp_path, pki, port, (pki.mallory.cert, pki.mallory.key))  # a CA the backend does not trust
        assert rc == 1 and _errors(report) == ["tls-alert-48"], report  # unknown_ca
        assert "refused the route's bridging certificate" in json.dumps(report["findings"])
