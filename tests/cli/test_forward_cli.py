"""The command line of the forward proxy: help, CA export, bad input as one line with exit 2."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BRIDGEHEAD, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_help_lists_commands_and_module_entry_point() -> None:
    out = run("--help")
    assert out.returncode == 0
    for name in ("forward", "ca", "bypass"):
        assert name in out.stdout
    module = subprocess.run([sys.executable, "-m", "bridgehead", "forward", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert module.returncode == 0 and "--on-client-cert-request" in module.stdout


def test_ca_export_prints_the_existing_ca_and_never_creates_one(tmp_path: Path) -> None:
    missing = run("ca", "export", "--state-dir", str(tmp_path / "state"))  # issue 13 item 7
    assert missing.returncode != 0 and "no inspection CA" in missing.stderr and not (tmp_path / "state").exists()
    from bridgehead.runtime.forward.ca import InspectionCA

    InspectionCA(tmp_path / "state" / "ca")  # what the first 'bridgehead forward' run does
    out = run("ca", "export", "--state-dir", str(tmp_path / "state"))
    assert out.returncode == 0, out.stderr
    cert = x509.load_pem_x509_certificate(out.stdout.encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = tmp_path / "state" / "ca" / "ca.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert "PRIVATE KEY" not in out.stdout
    again = run("ca", "export", "--state-dir", str(tmp_path / "state"))
    assert again.stdout == out.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--listen", "nohost"], "invalid listen address"),
    (["--upstream-ca", "/nonexistent/ca.pem"], "file not found"),
    (["--exception-source", "not a host!"], "source exception"),
    (["--learn-ttl", "soon"], "invalid duration"),
    (["--config", "/nonexistent.toml"], "cannot read"),
])
def test_bad_forward_settings_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = run("forward", "--state-dir", str(tmp_path / "s"), *args)
    assert out.returncode == 2
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_bad_toml_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "f.toml"
    cfg.write_text("default = [unclosed\n")
    out = run("forward", "--config", str(cfg))
    assert out.returncode == 2 and "invalid TOML" in out.stderr
    cfg.write_text('default = "inspect"\nbogus = 1\n')
    out = run("forward", "--config", str(cfg))
    assert out.returncode == 2 and "unknown setting(s): bogus" in out.stderr


def test_listen_conflict_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = run("forward", "--listen", f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "s"))
    assert out.returncode == 2 and "cannot listen" in out.stderr


@pytest.mark.parametrize(("toml", "key", "values"), [
    ('on_client_cert_request = "blok"\n', "on_client_cert_request", "tunnel | block | present"),
    ('default = "deny"\n', "default", "inspect | tunnel"),
    ('default = "fast"\n', "default", "inspect | tunnel"),
    ('[[client_cert_rule]]\ndestination = "a.example"\naction = "blok"\n', "client_cert_rule[1].action",
     "tunnel | block | present"),
    ('learn_ttl = "soon"\n', "learn_ttl", "60s, 15m, 12h"),
    ('listen = "nohost"\n', "listen", "HOST:PORT"),
])
def test_bad_toml_value_names_key_file_and_values(tmp_path: Path, toml: str, key: str, values: str) -> None:
    cfg = tmp_path / "forward.toml"
    cfg.write_text(toml)
    out = run("forward", "--config", str(cfg), "--state-dir", str(tmp_path / "s"))
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert str(cfg) in line and key in line and values in line
    assert "CertRequestAction" not in line and "Action" not in line.replace(key, "")


def test_binary_toml_is_a_configuration_error_naming_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "forward.toml"
    cfg.write_bytes(bytes(range(128, 256)) * 4)
    out = run("forward", "--config", str(cfg), "--state-dir", str(tmp_path / "s"))
    assert out.returncode == 2
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1 and str(cfg) in line and "UTF-8" in line
    assert "UnicodeDecodeError" not in line


def test_proxy_url_brackets_ipv6_literals() -> None:
    from bridgehead.cli.forward_cmd import proxy_url

    assert proxy_url("::1", 8092) == "http://[::1]:8092"
    assert proxy_url("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert proxy_url("proxy.example.test", 3128) == "http://proxy.example.test:3128"


def test_start_up_try_line_is_one_unwrapped_line(tmp_path: Path) -> None:
    from tests.support.procs import free_port, running

    state = tmp_path / ("a-long-directory-name-so-the-ca-path-passes-eighty-columns" * 2) / "state"
    port = free_port()
    log = tmp_path / "out.log"
    with running([BRIDGEHEAD, "forward", "--listen", f"127.0.0.1:{port}", "--state-dir", str(state)],
                 port=port, log=log, env={**os.environ, "COLUMNS": "80", "TERM": "xterm"}):
        import time

        deadline = time.monotonic() + 10
        while "try:" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = [line for line in log.read_text().splitlines() if "try:" in line]
    expected = (f"  try: curl --proxy http://127.0.0.1:{port} --cacert {state / 'ca' / 'ca.pem'} "
                "https://example.com/")
    assert lines == [expected]
