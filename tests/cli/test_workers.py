"""``--workers N|auto`` for the reverse proxy: several processes accept on one listener, all answer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.runtime.reverse.conftest import Pki, curl, listener, pki, status_of  # noqa: F401  (fixture)
from tests.support.procs import free_port, running
from tests.support.recording_backend import RecordingBackend

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_reverse_workers_share_the_listener(tmp_path: Path, pki: Pki) -> None:  # noqa: F811
    with RecordingBackend() as backend:
        port = free_port()
        config = tmp_path / "reverse.toml"
        config.write_text(f'state_dir = "state"\naccess_log = "{tmp_path}/access.log"\n'
                          + listener(pki).replace("{port}", str(port))
                          + f'\n[[route]]\nname = "web"\nlistener = "edge"\nhosts = ["mail.example.test"]\n'
                            f'mode = "offload"\nbackend = "http://ex01.internal.test:{backend.port}"\n'
                            f'backend_address = "127.0.0.1:{backend.port}"\n')
        with running([BRIDGEHEAD, "reverse", "--config", str(config), "--workers", "3"], port=port,
                     log=tmp_path / "out.log") as proc:
            deadline = time.monotonic() + 10
            while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            workers = {proc.pid, *_children(proc.pid)}
            results = [curl(pki, f"https://mail.example.test:{port}/w{i}", resolve=("mail.example.test", port))
                       for i in range(12)]
        assert len(workers) == 3
        assert all(status_of(r) == 200 for r in results), [r.stderr for r in results]
        time.sleep(0.5)
        assert not any(os.path.exists(f"/proc/{pid}") and _zombie_free(pid) for pid in workers - {proc.pid})
    assert (tmp_path / "out.log").read_text().count("listener edge") == 1  # the start-up lines are printed once


def _zombie_free(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_workers_value_is_checked() -> None:
    result = subprocess.run([BRIDGEHEAD, "reverse", "--config", "/nonexistent.toml", "--workers", "lots"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "not a number of workers or 'auto'" in result.stderr
