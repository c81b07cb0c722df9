"""``bridgehead serve --config``: one node, real processes, real signals.

An origin (``python -m http.server``) serves small files and ``tests.support.slow_origin``
sends 1 MB over about 2.4 s; curl and requests go through the forward proxy of ``bridgehead
serve``. Checked: /healthz and /metrics on the admin listener,
SIGHUP reloads under load without a failed request, an invalid file is refused and the old
version keeps serving, SIGUSR1 reopens a renamed access log, SIGTERM lets a 1 MB download
finish and refuses new connections.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.procs import free_port, running, wait_port

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")


def _config(fwd: int, admin: int, extra: str = "", drain: str = "20s") -> str:
    return (f'state_dir = "state"\ndrain_timeout = "{drain}"\n\n[forward]\nlisten = "127.0.0.1:{fwd}"\n'
            f'access_log = "logs/access.log"\n{extra}\n[admin]\nlisten = "127.0.0.1:{admin}"\n')


@pytest.fixture()
def origin(tmp_path: Path) -> Iterator[int]:
    www = tmp_path / "www"
    www.mkdir()
    (www / "big.bin").write_bytes(os.urandom(1024 * 1024))
    (www / "small.txt").write_text("hello\n")
    port = free_port()
    with running([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", str(www)],
                 port=port):
        yield port


def _wait(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _health(admin: int) -> dict[str, object]:
    return requests.get(f"http://127.0.0.1:{admin}/healthz", timeout=5).json()  # type: ignore[no-any-return]


def test_reload_under_load_invalid_file_refused_and_log_reopen(tmp_path: Path, origin: int) -> None:
    fwd, admin = free_port(), free_port()
    conf = tmp_path / "gateway.toml"
    conf.write_text(_config(fwd, admin))
    log = tmp_path / "serve.log"
    with running([BRIDGEHEAD, "serve", "--config", str(conf), "--member", "node1"], port=admin, log=log,
                 cwd=tmp_path) as proc:
        wait_port(fwd)
        assert _health(admin)["applied_version"] == 1
        url = f"http://127.0.0.1:{origin}/small.txt"
        proxies = {"http": f"http://127.0.0.1:{fwd}"}
        failures: list[str] = []
        done = {"n": 0}
        stop = threading.Event()

        def load(keep_alive: bool) -> None:
            session = requests.Session()
            for _ in range(400):  # bounded
                if stop.is_set():
                    return
                try:
                    if keep_alive:
                        r = session.get(url, proxies=proxies, timeout=10)
                    else:
                        r = requests.get(url, proxies=proxies, timeout=10, headers={"Connection": "close"})
                    if r.status_code != 200 or r.text != "hello\n":
                        failures.append(f"{r.status_code}")
                    done["n"] += 1
                except requests.RequestException as exc:
                    failures.append(repr(exc))

        threads = [threading.Thread(target=load, args=(k,)) for k in (True, False, True, False)]
        for t in threads:
            t.start()
        for i in range(3):  # three reloads while the load runs, each a new version
            time.sleep(0.3)
            conf.write_text(_config(fwd, admin, f'exception_destination = ["reload{i}.example"]\n'))
            os.kill(proc.pid, signal.SIGHUP)
            _wait(lambda i=i: _health(admin)["applied_version"] == 2 + i)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(60)
        assert failures == [] and done["n"] > 50
        print(f"\nSIGHUP x3 under load: {done['n']} requests, {len(failures)} failed")

        conf.write_text(_config(fwd, admin, 'default = "sideways"\n'))
        os.kill(proc.pid, signal.SIGHUP)
        _wait(lambda: "refused, still serving version 4" in log.read_text())
        assert _health(admin)["applied_version"] == 4
        assert requests.get(url, proxies=proxies, timeout=5).status_code == 200

        metrics = requests.get(f"http://127.0.0.1:{admin}/metrics", timeout=5).text
        assert "bridgehead_config_applied_version 4.0" in metrics
        assert 'bridgehead_requests_total{action="inspect",code=""}' in metrics
        assert "bridgehead_request_duration_seconds_bucket" in metrics

        access = tmp_path / "logs" / "access.log"
        access.rename(tmp_path / "logs" / "access.log.1")
        os.kill(proc.pid, signal.SIGUSR1)
        _wait(lambda: access.exists())
        requests.get(f"http://127.0.0.1:{origin}/small.txt?after-rotate=1", proxies=proxies, timeout=5)
        _wait(lambda: "after-rotate=1" in access.read_text())
        assert "after-rotate" not in (tmp_path / "logs" / "access.log.1").read_text()

        history = subprocess.run([BRIDGEHEAD, "config", "history", "--json", "--state-dir", str(tmp_path / "state")],
                                 capture_output=True, text=True, check=True)
        versions = json.loads(history.stdout)["versions"]
        assert [v["number"] for v in versions] == [4, 3, 2, 1]
        assert versions[0]["author"] == "SIGHUP" and '+exception_destination = ["reload2.example"]' in \
            versions[0]["diff"]


def test_sigterm_drains_a_1mb_download(tmp_path: Path, origin: int) -> None:
    fwd, admin, slow = free_port(), free_port(), free_port()
    conf = tmp_path / "gateway.toml"
    conf.write_text(_config(fwd, admin, drain="20s"))
    with running([sys.executable, "-m", "tests.support.slow_origin", str(slow)], port=slow,
                 cwd=Path(__file__).resolve().parents[3]), \
            running([BRIDGEHEAD, "serve", "--config", str(conf)], port=admin, log=tmp_path / "serve.log",
                    cwd=tmp_path) as proc:
        wait_port(fwd)
        out = tmp_path / "big.out"
        curl = subprocess.Popen(["curl", "-sS", "--fail", "--proxy", f"http://127.0.0.1:{fwd}", "-o", str(out),
                                 "-w", "%{size_download}", f"http://127.0.0.1:{slow}/slow/{1024 * 1024}"],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(0.8)  # the download is in flight (about 2.4 s)
        assert curl.poll() is None
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        refused = subprocess.run(["curl", "-sS", "--proxy", f"http://127.0.0.1:{fwd}", "-o", "/dev/null",
                                  f"http://127.0.0.1:{origin}/small.txt"], capture_output=True)
        assert refused.returncode != 0  # not accepting any more
        stdout, _ = curl.communicate(timeout=30)
        assert curl.returncode == 0 and stdout == str(1024 * 1024)
        body = out.read_bytes()
        assert len(body) == 1024 * 1024 and body[-1] == (1024 * 1024 - 1) // (64 * 1024) % 251
        proc.wait(30)
        print(f"\nSIGTERM drain: 1 MB download completed, process exited {time.monotonic() - started:.1f} s "
              "after the signal")
        assert proc.returncode == 0
        assert time.monotonic() - started < 10  # it waited for the download, not for drain_timeout (20 s)


def test_invalid_file_at_start_is_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "gateway.toml"
    conf.write_text('[forward]\nlisten = "127.0.0.1:1"\ndefault = "sideways"\n')
    result = subprocess.run([BRIDGEHEAD, "serve", "--config", str(conf)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith("bridgehead: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
