"""The access log is written in batches (issue 11 item 3) and loses no record: a record waits at
most FLUSH_AFTER inside an event loop, a full batch goes at once, reopen/close write what waits,
and a real ``bridgehead forward`` (one process or forked workers) stopped by SIGTERM right after
answering has every record in its file. The file stays 0640."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import sys
from pathlib import Path

import pytest

from bridgehead.runtime import accesslog
from bridgehead.runtime.accesslog import BATCH_MAX, FLUSH_AFTER, AccessLog
from tests.support.procs import free_port, running, stop

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_batched_in_a_loop_written_within_the_flush_delay(tmp_path: Path) -> None:
    path = tmp_path / "a.log"

    async def main() -> tuple[int, int, int]:
        log = AccessLog(path)
        for i in range(5):
            log.write(action="deny", status=403, code="forward-rule-denied", bytes_in=i)
        waiting = len(lines(path))
        await asyncio.sleep(FLUSH_AFTER * 3)
        written = len(lines(path))
        for i in range(BATCH_MAX):
            log.write(action="deny", status=403, bytes_in=i)
        full = len(lines(path))
        log.close()
        return waiting, written, full

    waiting, written, full = asyncio.run(main())
    assert waiting == 0  # batched, not one write per record
    assert written == 5
    assert full == 5 + BATCH_MAX  # a full batch does not wait for the timer
    assert [r["bytes_in"] for r in lines(path)[:5]] == [0, 1, 2, 3, 4]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_outside_a_loop_written_at_once_and_reopen_writes_to_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "b.log"
    log = AccessLog(path)
    log.write(action="tunnel", status=200)
    assert len(lines(path)) == 1

    async def rotate() -> None:
        log.write(action="tunnel", status=201)
        path.rename(tmp_path / "b.log.1")
        log.reopen()
        log.write(action="tunnel", status=202)
        log.close()

    asyncio.run(rotate())
    assert [r["status"] for r in lines(tmp_path / "b.log.1")] == [200, 201]
    assert [r["status"] for r in lines(path)] == [202]


def test_flush_all_writes_every_open_log(tmp_path: Path) -> None:
    path = tmp_path / "c.log"

    async def main() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        log = AccessLog(path)
        log.write(action="error", code="upstream-unreachable")
        before = lines(path)  # waiting for the end of this turn of the loop
        accesslog.flush_all()  # what a forked worker does before os._exit
        after = lines(path)
        log.close()
        return before, after

    before, after = asyncio.run(main())
    assert before == []
    assert [r["code"] for r in after] == ["upstream-unreachable"]


def _get_refused(port: int, target: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET http://127.0.0.1:{target}/ HTTP/1.1\r\nHost: 127.0.0.1:{target}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_right_after_answering_loses_no_record(tmp_path: Path, workers: str) -> None:
    port, closed = free_port(), free_port()
    log = tmp_path / "access.log"
    argv = [BRIDGEHEAD, "forward", "--listen", f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "state"),
            "--access-log", str(log), "--workers", workers]
    count = 12
    with running(argv, port=port, log=tmp_path / "proxy.out") as proc:
        for _ in range(count):
            assert _get_refused(port, closed).startswith(b"HTTP/1.1 502")
        stop(proc)  # SIGTERM at once: records still batched must be written on the way out
    records = lines(log)
    assert len(records) == count, (tmp_path / "proxy.out").read_text()
    assert {r["code"] for r in records} == {"upstream-unreachable"}
    assert stat.S_IMODE(log.stat().st_mode) == 0o640
