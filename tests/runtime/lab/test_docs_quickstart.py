"""docs/lab.md's reverse-proxy quick start, run as written (only the two ports are replaced by
free ones): `bridgehead pki` files, `bridgehead backend`, `bridgehead reverse`, then the
documented curl line answers 200 with the user, and 403 without the device certificate."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from bridgehead.runtime.lab.procs import Programs, clean_env, free_port

DOC = Path(__file__).resolve().parents[3] / "docs" / "lab.md"


def _blocks() -> list[str]:
    text = DOC.read_text().split("### Reverse-proxy quick start", 1)[1]
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_reverse_quick_start_as_written(tmp_path: Path) -> None:
    setup, start, client = _blocks()
    edge, backend = free_port(), free_port()

    def ports(text: str) -> str:
        return text.replace("8443", str(edge)).replace("9443", str(backend))

    env = clean_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", ports(setup)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    commands = [shlex.split(line) for line in ports(start).splitlines() if line.strip()]
    assert [c[1] for c in commands] == ["backend", "reverse"]
    with Programs(tmp_path) as progs:
        progs.start("backend", commands[0], port=backend, env=env, cwd=tmp_path)
        progs.start("reverse", commands[1], port=edge, env=env, cwd=tmp_path)
        (line,) = [x for x in ports(client).splitlines() if x.strip()]
        argv = shlex.split(line)
        ok = subprocess.run([*argv[:1], "-sS", "-w", "\n%{http_code}", *argv[1:]], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=30)
        assert ok.stdout.rsplit("\n", 1)[-1] == "200", ok.stdout + ok.stderr
        assert '"user":"CORP\\\\alice"' in ok.stdout
        without = [a for a in argv if a not in ("--cert", "pki/alice.pem", "--key", "pki/alice.key")]
        refused = subprocess.run([*without[:1], "-sS", "-o", "/dev/null", "-w", "%{http_code}", *without[1:]],
                                 cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
        assert refused.stdout == "403", refused.stderr
