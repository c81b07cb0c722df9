"""``lint`` finds what would stop ``reverse`` from starting (issue 16 item 4), and ``reverse`` names
it in one line: a listener key that is not its certificate's, a missing keytab, and
``identity = "kerberos"`` without python-gssapi (simulated by a ``gssapi`` that cannot be imported)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.runtime.reverse.conftest import BRIDGEHEAD, Pki, listener
from tests.support.procs import free_port

KERBEROS = (
    '\n[[route]]\nname = "kcd"\nhosts = ["localhost"]\nmode = "reencrypt"\n'
    'backend = "https://localhost:{backend}"\nbackend_ca = "{ca}"\nidentity = "kerberos"\n'
    '[route.kerberos]\nprincipal = "HTTP/proxy.example.test@EXAMPLE.TEST"\nkeytab = "{keytab}"\n'
)


def _write(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "reverse.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n' + text.replace("{port}", str(free_port())))
    return config


def _lint(config: Path, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, str]]]:
    p = subprocess.run([BRIDGEHEAD, "lint", "--config", str(config), "--json"], capture_output=True, text=True,
                       timeout=60, env=env)
    assert p.returncode in (0, 1), p.stderr
    return p.returncode, json.loads(p.stdout)["findings"]


def _reverse(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BRIDGEHEAD, "reverse", "--config", str(config), "--no-backend-check"],
                          capture_output=True, text=True, timeout=60, env=env)


def _kerberos_route(pki: Pki, keytab: Path) -> str:
    return KERBEROS.format(backend=free_port(), ca=pki.internal.cert, keytab=keytab)


def test_listener_key_not_matching_its_certificate(pki: Pki, tmp_path: Path) -> None:
    text = listener(pki).replace(f'key = "{pki.edge.key}"', f'key = "{pki.backend.key}"')
    text += ('\n[[route]]\nname = "app"\nhosts = ["localhost"]\nmode = "reencrypt"\n'
             f'backend = "https://localhost:{free_port()}"\nbackend_ca = "{pki.internal.cert}"\n')
    config = _write(tmp_path, text)
    rc, findings = _lint(config)
    (finding,) = [f for f in findings if f["code"] == "config-cert-key-mismatch"]
    assert rc == 1 and finding["severity"] == "error" and finding["subject"] == "listener edge"
    assert str(pki.backend.key) in finding["message"] and str(pki.edge.chain) in finding["message"]
    started = _reverse(config)
    lines = started.stderr.strip().splitlines()
    assert started.returncode == 2 and len(lines) == 1, started.stderr
    assert "config-cert-key-mismatch" in lines[0] and str(pki.backend.key) in lines[0]


def test_missing_keytab(pki: Pki, tmp_path: Path) -> None:
    config = _write(tmp_path, listener(pki) + _kerberos_route(pki, tmp_path / "missing.keytab"))
    rc, findings = _lint(config)
    (finding,) = [f for f in findings if f["code"] == "kcd-keytab-unusable"]
    assert rc == 1 and "missing.keytab" in finding["message"] and "does not exist" in finding["message"]
    started = _reverse(config)
    assert started.returncode == 2 and "kcd-keytab-unusable" in started.stderr, started.stderr


def test_kerberos_without_gssapi_names_the_extra(pki: Pki, tmp_path: Path) -> None:
    keytab = tmp_path / "proxy.keytab"
    keytab.write_bytes(b"\x05\x02")
    shadow = tmp_path / "shadow" / "gssapi"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'gssapi'\", name='gssapi')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    config = _write(tmp_path, listener(pki) + _kerberos_route(pki, keytab))
    rc, findings = _lint(config, env)
    (finding,) = [f for f in findings if f["code"] == "kcd-gssapi-missing"]
    assert rc == 1 and "bridgehead[kerberos]" in finding["message"]
    started = _reverse(config, env)
    lines = started.stderr.strip().splitlines()
    assert started.returncode == 2 and len(lines) == 1 and "bridgehead[kerberos]" in lines[0], started.stderr
    assert "ModuleNotFoundError" not in lines[0].split("(", 1)[0]


def test_config_apply_refuses_a_key_that_is_not_the_certificates(pki: Pki, tmp_path: Path) -> None:
    text = listener(pki).replace(f'key = "{pki.edge.key}"', f'key = "{pki.backend.key}"')
    text += ('\n[[route]]\nname = "app"\nhosts = ["localhost"]\nmode = "reencrypt"\n'
             f'backend = "https://localhost:{free_port()}"\nbackend_ca = "{pki.internal.cert}"\n')
    config = _write(tmp_path, text)
    p = subprocess.run([BRIDGEHEAD, "config", "apply", str(config), "--state-dir", str(tmp_path / "state")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "config-cert-key-mismatch" in p.stderr, p.stderr
