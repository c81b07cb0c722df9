"""docs/lab.md's reverse-proxy quick start, run as written (only the two ports are replaced by
free ones): `bridgehead pki` files, `bridgehead backend`, `bridgehead reverse`, then the
documented curl line answers 200 with the user, and 403 without the device certificate."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from tests.runtime.lab.quickstart import Quickstart


def test_reverse_quick_start_as_written(tmp_path: Path) -> None:
    qs = Quickstart.of("lab.md", "### Reverse-proxy quick start", tmp_path)
    setup, start, client = qs.blocks
    env = qs.env
    r = qs.setup(setup)
    assert r.returncode == 0, r.stderr
    assert [c[1] for c in (shlex.split(x) for x in qs.lines(start))] == ["backend", "reverse"]
    with qs.programs(start):
        (line,) = qs.lines(client)
        argv = shlex.split(line)
        ok = subprocess.run([*argv[:1], "-sS", "-w", "\n%{http_code}", *argv[1:]], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=30)
        assert ok.stdout.rsplit("\n", 1)[-1] == "200", ok.stdout + ok.stderr
        assert '"user":"CORP\\\\alice"' in ok.stdout
        without = [a for a in argv if a not in ("--cert", "pki/alice.pem", "--key", "pki/alice.key")]
        refused = subprocess.run([*without[:1], "-sS", "-o", "/dev/null", "-w", "%{http_code}", *without[1:]],
                                 cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
        assert refused.stdout == "403", refused.stderr
