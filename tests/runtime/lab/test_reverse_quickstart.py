"""docs/reverse.md's quick start, run as written (only the two ports are replaced by free ones):
`bridgehead pki` files and `bridgehead lint`, `bridgehead backend` and `bridgehead reverse`, then each
documented curl line gets the status the text says, and after `bridgehead pki revoke` and the
documented wait the device is refused by the CRL."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from tests.runtime.lab.quickstart import Quickstart


def _curl(line: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run a documented curl line; returns status, response head and body."""
    argv = shlex.split(line)
    assert argv[0] == "curl"
    head = cwd / "head.txt"
    done = subprocess.run([argv[0], "-sS", "-D", str(head), "-w", "\n%{http_code}", *argv[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=30)
    body, _, status = done.stdout.rpartition("\n")
    return int(status or 0), head.read_bytes().decode(errors="replace") if head.exists() else "", body + done.stderr


def test_reverse_md_quick_start_as_written(tmp_path: Path) -> None:
    qs = Quickstart.of("reverse.md", "## Quick start (test certificates from `bridgehead pki`)", tmp_path,
                       until="## Worked example")
    setup, start, clients, revoke = qs.blocks
    env = qs.env
    r = qs.setup(setup)
    assert r.returncode == 0, r.stdout + r.stderr  # includes bridgehead lint: no findings
    assert "for quick starts and labs only" in r.stderr
    assert oct((tmp_path / "pki" / "alice.key").stat().st_mode & 0o777) == "0o600"
    with qs.programs(start) as commands:
        assert [c[:2] for c in commands] == [["bridgehead", "backend"], ["bridgehead", "reverse"]]

        lines = qs.lines(clients)
        assert len(lines) == 3
        with_cert, fallback, wrong = (_curl(line, tmp_path, env) for line in lines)
        assert with_cert[0] == 200 and json.loads(with_cert[2])["user"] == "CORP\\alice", with_cert
        assert fallback[0] == 200 and json.loads(fallback[2])["user"] == "CORP\\alice", fallback
        assert wrong[0] == 401 and "X-Bridgehead-Code: edge-basic-logon-failed" in wrong[1], wrong

        *steps, last = qs.lines(revoke)
        assert steps[0].startswith("bridgehead pki revoke")
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(steps)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        status, head, _ = _curl(last, tmp_path, env)
        assert status == 403 and "X-Bridgehead-Code: edge-client-cert-revoked" in head, head

    records = [json.loads(x) for x in (tmp_path / "reverse-access.log").read_text().splitlines() if x.strip()]
    requests_ = [(x["status"], x.get("identity_source"), x.get("code")) for x in records if x.get("status")]
    assert requests_ == [(200, "certificate", None), (200, "basic", None), (401, None, "edge-basic-logon-failed"),
                         (403, "certificate", "edge-client-cert-revoked")]
    assert "Passw0rd" not in (tmp_path / "reverse-access.log").read_text()
