"""An array of three ``bridgehead serve`` members on a real PostgreSQL (throwaway cluster).

``config apply`` → every member "Synced" within 2 s (measured, printed); a version one member
cannot apply (its port is taken there) → that member "Error — …" and keeps serving, the others
synced; ``rollback``; the database stops → members keep serving and say the store is
unreachable; it comes back → a new version reaches every member again.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.postgres import pg_cluster
from tests.support.procs import free_port, running, wait_port

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")
MEMBERS = ("m1", "m2", "m3")
ADDRS = {"m1": "127.0.0.2", "m2": "127.0.0.3", "m3": "127.0.0.4"}


def _conf(fwd: int, admin: int, extra: str = "") -> str:
    return (f'state_dir = "state"\ndrain_timeout = "5s"\n[forward]\nlisten = "127.0.0.1:{fwd}"\n{extra}'
            f'[admin]\nlisten = "127.0.0.1:{admin}"\n')


def _bh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BRIDGEHEAD, *args], capture_output=True, text=True, timeout=60)


def _status(url: str) -> dict[str, Any]:
    result = _bh("status", "--store", url, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _until(url: str, check: Any, timeout: float = 15.0) -> tuple[dict[str, Any], float]:
    start = time.monotonic()
    while True:
        status = _status(url)
        if check(status):
            return status, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not reached in {timeout}s: {status}")
        time.sleep(0.05)


def _lag(url: str, status: dict[str, Any], number: int) -> float:
    """Seconds from the version's creation to the last member's applied_at (both recorded in the store)."""
    versions = json.loads(_bh("config", "history", "--store", url, "--json").stdout)["versions"]
    created = next(v["created_at"] for v in versions if v["number"] == number)
    return float(max(m["applied_at"] for m in status["members"]) - created)


def _all(state: str, version: int) -> Any:
    return lambda s: s["version"] == version and len(s["members"]) == 3 and \
        all(m["state"] == state and m["applied_version"] == version for m in s["members"])


def test_three_members_apply_error_rollback_and_database_restart(tmp_path: Path) -> None:
    fwd, admin = free_port(), free_port()
    conf = tmp_path / "gateway.toml"
    conf.write_text(_conf(fwd, admin))
    with pg_cluster() as pg:
        url = pg.url
        applied = _bh("config", "apply", str(conf), "--store", url, "--author", "alice")
        assert applied.returncode == 0, applied.stderr
        assert applied.stdout.strip() == "1"
        procs = []
        try:
            for name in MEMBERS:
                ctx = running([BRIDGEHEAD, "serve", "--store", url, "--member", name, "--bind", ADDRS[name],
                               "--state-dir", str(tmp_path / name)], port=admin, host=ADDRS[name],
                              log=tmp_path / f"{name}.log", cwd=tmp_path,
                              env={**os.environ, "BRIDGEHEAD_CA_PASSPHRASE": "array test passphrase"})
                procs.append(ctx)
                ctx.__enter__()
            status, _ = _until(url, _all("synced", 1))
            assert status["members"][0]["message"] == \
                "Synced — Server configuration matches the stored configuration"
            for name in MEMBERS:  # each member serves on its own address
                wait_port(fwd, ADDRS[name])

            conf.write_text(_conf(fwd, admin, 'exception_destination = ["v2.example"]\n'))
            assert _bh("config", "apply", str(conf), "--store", url).stdout.strip() == "2"
            status, _ = _until(url, _all("synced", 2))
            took = _lag(url, status, 2)
            print(f"\nconfig apply → 3 members Synced: {took:.2f} s (PostgreSQL, NOTIFY + 1 s polling)")
            assert took <= 2.0

            # version 3 moves the forward listener to a port that is taken on m1's address only
            busy = free_port()
            with socket.create_server((ADDRS["m1"], busy)):
                conf.write_text(_conf(busy, admin))
                assert _bh("config", "apply", str(conf), "--store", url).stdout.strip() == "3"

                def m1_error(s: dict[str, Any]) -> bool:
                    by = {m["name"]: m for m in s["members"]}
                    return bool(by["m1"]["state"] == "error") and by["m2"]["state"] == "synced" \
                        and by["m3"]["state"] == "synced"

                status, _ = _until(url, m1_error)
                m1 = next(m for m in status["members"] if m["name"] == "m1")
                assert m1["message"].startswith("Error — version 3: cannot listen on 127.0.0.2:")
                assert m1["applied_version"] == 2
                wait_port(fwd, ADDRS["m1"])  # m1 still serves version 2

            rolled = _bh("config", "rollback", "2", "--store", url, "--json")
            assert rolled.returncode == 0, rolled.stderr
            assert json.loads(rolled.stdout)["version"] == 4
            _until(url, _all("synced", 4))
            history = json.loads(_bh("config", "history", "--store", url, "--json").stdout)["versions"]
            assert [v["number"] for v in history] == [4, 3, 2, 1]
            assert history[0]["comment"] == "rollback to version 2" and history[-1]["author"] == "alice"

            pg.stop()
            time.sleep(2.5)
            for name in MEMBERS:
                health = requests.get(f"http://{ADDRS[name]}:{admin}/healthz", timeout=5).json()
                assert health["store_reachable"] is False and health["applied_version"] == 4
                metrics = requests.get(f"http://{ADDRS[name]}:{admin}/metrics", timeout=5).text
                assert "bridgehead_store_reachable 0.0" in metrics
                wait_port(fwd, ADDRS[name])  # the forward proxy keeps serving
            down = _bh("status", "--store", url)
            assert down.returncode == 2 and down.stderr.startswith("bridgehead: error: cannot open the store")
            pg.start()
            conf.write_text(_conf(fwd, admin, 'exception_destination = ["v5.example"]\n'))
            assert _bh("config", "apply", str(conf), "--store", url).stdout.strip() == "5"
            status, _ = _until(url, _all("synced", 5))
            took = _lag(url, status, 5)
            print(f"after a database restart: apply → 3 members Synced in {took:.2f} s")
            assert took <= 2.0
        finally:
            for ctx in reversed(procs):
                ctx.__exit__(None, None, None)
