"""``bridgehead serve --workers 2``: the parent supervises, two forked workers serve, real signals.

An origin (``python -m http.server``) and ``tests.support.slow_origin`` (1 MB over ~2.4 s) behind
the forward proxy of ``bridgehead serve --config F --workers 2``; requests from ``requests``
(a new connection each). Checked: requests spread over both workers (the access log's ``worker``
field), ``/metrics`` sums both workers' counters, the console's ring of recent records gets both
workers' records; a SIGHUP with a new file that denies the origin reaches both workers (every
later request is denied, by worker 0 and by worker 1) and no request of a load running meanwhile
fails; SIGTERM to the parent lets a 1 MB download through a worker finish, then every process
exits.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.support.procs import free_port, running, wait_port

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")
DENY = """
[[rule]]
name = "no origin"
action = "deny"
destination = ["127.0.0.1:{origin}"]
[[rule]]
name = "loopback"
action = "allow"
source = ["127.0.0.0/8"]
"""


def _config(fwd: int, admin: int, extra: str = "") -> str:
    return (f'state_dir = "state"\ndrain_timeout = "20s"\n{extra}\n[forward]\nlisten = "127.0.0.1:{fwd}"\n'
            f'access_log = "logs/access.log"\n\n[admin]\nlisten = "127.0.0.1:{admin}"\n')


def _records(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _get(fwd: int, url: str, timeout: float = 10.0) -> requests.Response:
    proxies = {"http": f"http://127.0.0.1:{fwd}"}
    return requests.get(url, proxies=proxies, timeout=timeout, headers={"Connection": "close"})


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _metric(admin: int, name: str) -> float:
    text = requests.get(f"http://127.0.0.1:{admin}/metrics", timeout=5).text
    return sum(float(m.group(1)) for line in text.splitlines() if (m := re.match(re.escape(name) + r"\{.*\} (\S+)$",
                                                                              line)))


def _wait(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_two_workers_spread_reload_reaches_both_and_sigterm_drains(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "small.txt").write_text("hello\n")
    origin, slow, fwd, admin = free_port(), free_port(), free_port(), free_port()
    conf = tmp_path / "gateway.toml"
    conf.write_text(_config(fwd, admin))
    access = tmp_path / "logs" / "access.log"
    small = f"http://127.0.0.1:{origin}/small.txt"
    with running([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(origin), "--directory", str(www)],
                 port=origin), \
            running([sys.executable, "-m", "tests.support.slow_origin", str(slow)], port=slow,
                    cwd=Path(__file__).resolve().parents[3]), \
            running([BRIDGEHEAD, "serve", "--config", str(conf), "--workers", "2"], port=admin,
                    log=tmp_path / "serve.out", cwd=tmp_path, timeout=30) as proc:
        wait_port(fwd)
        workers = _children(proc.pid)
        assert len(workers) == 2
        health = requests.get(f"http://127.0.0.1:{admin}/healthz", timeout=5).json()
        assert health["workers"] == {"configured": 2, "running": 2} and health["applied_version"] == 1

        for _ in range(40):
            assert _get(fwd, small).status_code == 200
        _wait(lambda: len(_records(access)) >= 40)
        by_worker = {w: sum(1 for r in _records(access) if r.get("worker") == w) for w in (0, 1)}
        print(f"\n40 requests over 2 workers: {by_worker}")
        assert by_worker[0] > 0 and by_worker[1] > 0 and sum(by_worker.values()) == 40
        assert _metric(admin, "bridgehead_requests_total") == 40.0  # both workers' counters, summed
        console = requests.Session()  # the console's live log (the parent's ring) holds both workers' records
        password = (tmp_path / "state" / "admin-password").read_text().strip()
        assert console.post(f"http://127.0.0.1:{admin}/login", data={"user": "admin", "password": password},
                            allow_redirects=False, timeout=10).status_code == 303
        live = console.get(f"http://127.0.0.1:{admin}/log?host=127.0.0.1", timeout=10).text
        assert "<p>40 record(s), newest first</p>" in live, live[-2000:]

        # SIGHUP under load: the new file denies the origin; it must reach both workers, no request may fail
        failures: list[str] = []
        done = threading.Event()
        count = [0]

        def load() -> None:
            while not done.is_set() and count[0] < 2000:
                try:
                    status = _get(fwd, small).status_code
                    if status not in (200, 403):
                        failures.append(f"status {status}")
                except requests.RequestException as exc:
                    failures.append(repr(exc))
                count[0] += 1

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        conf.write_text(_config(fwd, admin, DENY.format(origin=origin)))
        os.kill(proc.pid, signal.SIGHUP)
        _wait(lambda: requests.get(f"http://127.0.0.1:{admin}/healthz", timeout=5).json()["applied_version"] == 2)
        time.sleep(0.5)
        done.set()
        for t in threads:
            t.join(30)
        print(f"SIGHUP reload with 2 workers under load: {count[0]} requests, {len(failures)} failed")
        assert not failures, failures[:5]
        time.sleep(0.3)  # the load's last records are written
        before = len(_records(access))
        for _ in range(30):
            assert _get(fwd, small).status_code == 403
        _wait(lambda: len(_records(access)) >= before + 30)
        denied = _records(access)[before:]
        assert all(r["code"] == "forward-rule-denied" and r["rule"] == "no origin" for r in denied), denied[:3]
        assert {r.get("worker") for r in denied} == {0, 1}, "the new version reached both workers"
        assert _children(proc.pid) == workers  # a reload keeps the same worker processes

        # SIGTERM: a 1 MB download through a worker finishes, then the parent and both workers exit
        got: dict[str, object] = {}

        def download() -> None:
            try:
                r = requests.get(f"http://127.0.0.1:{slow}/slow/1048576", proxies={"http": f"http://127.0.0.1:{fwd}"},
                                 timeout=30)
                got["status"], got["size"] = r.status_code, len(r.content)
            except requests.RequestException as exc:
                got["error"] = repr(exc)

        conf.write_text(_config(fwd, admin))
        os.kill(proc.pid, signal.SIGHUP)
        _wait(lambda: requests.get(f"http://127.0.0.1:{admin}/healthz", timeout=5).json()["applied_version"] == 3)
        thread = threading.Thread(target=download)
        thread.start()
        time.sleep(0.6)
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        thread.join(30)
        proc.wait(30)
        took = time.monotonic() - started
        print(f"SIGTERM with 2 workers: 1 MB download {got}, all processes gone {took:.1f} s after the signal")
        assert got == {"status": 200, "size": 1048576}
        assert proc.returncode == 0
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert "Traceback" not in (tmp_path / "serve.out").read_text()


def test_workers_flag_refuses_bad_values(tmp_path: Path) -> None:
    for value, message in (("0", "0 workers: use 1 to 64 or 'auto'"), ("many", "'many' is not a number")):
        out = subprocess.run([BRIDGEHEAD, "serve", "--workers", value], capture_output=True, text=True, timeout=30,
                             cwd=tmp_path)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_workers_key_in_the_file(tmp_path: Path) -> None:
    fwd, admin = free_port(), free_port()
    conf = tmp_path / "gateway.toml"
    conf.write_text(_config(fwd, admin, "workers = 2"))
    with running([BRIDGEHEAD, "serve", "--config", str(conf)], port=admin, log=tmp_path / "serve.out", cwd=tmp_path,
                 timeout=30) as proc:
        health = requests.get(f"http://127.0.0.1:{admin}/healthz", timeout=5).json()
        assert health["workers"] == {"configured": 2, "running": 2}
        assert len(_children(proc.pid)) == 2
    conf.write_text(_config(fwd, admin, "workers = 0"))
    out = subprocess.run([BRIDGEHEAD, "serve", "--config", str(conf)], capture_output=True, text=True, timeout=30,
                         cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert 'workers must be 1 to 64 or "auto", not 0' in out.stderr


def test_a_worker_that_dies_is_named_and_the_last_one_stops_the_service(tmp_path: Path) -> None:
    fwd, admin = free_port(), free_port()
    conf = tmp_path / "gateway.toml"
    conf.write_text(_config(fwd, admin))
    with running([BRIDGEHEAD, "serve", "--config", str(conf), "--workers", "2"], port=admin,
                 log=tmp_path / "serve.out", cwd=tmp_path, timeout=30) as proc:
        wait_port(fwd)
        first, second = _children(proc.pid)
        os.kill(first, signal.SIGKILL)
        _wait(lambda: requests.get(f"http://127.0.0.1:{admin}/healthz", timeout=5).json()["error"])  # ≤ 1 s
        health = requests.get(f"http://127.0.0.1:{admin}/healthz", timeout=5)
        assert health.status_code == 200  # the other worker still serves
        assert f"(pid {first}) exited with status -9; 1 of 2 workers serve" in health.json()["error"]
        assert "bridgehead_worker_processes 1.0" in requests.get(f"http://127.0.0.1:{admin}/metrics", timeout=5).text
        wait_port(fwd)
        os.kill(second, signal.SIGKILL)
        assert proc.wait(15) == 1
    assert "no worker process left: stopping (exit status 1)" in (tmp_path / "serve.out").read_text()
