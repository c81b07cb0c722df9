"""The W3C fast path (prefilters, in-place blocks, handshake steps) against the straightforward path.

``W3cScanner(straightforward=True)`` splits every record and judges it by the general rules; the
default path looks only at prefilter hits. Both must give the same records and findings: on the
benchmark's generated IIS log (bench/logs.py, the file bench/logs_awk.py times) and on random
sequences of NTLM steps, failures, proxies and probes.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridgehead.core.logscan import FileResult, Filters, Findings, W3cScanner
from tests.support.logsamples import IIS_HEADER, iis_line

BENCH = Path(__file__).resolve().parents[2] / "bench" / "logs.py"


def _make_iis() -> Any:
    spec = importlib.util.spec_from_file_location("bench_logs", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_logs", module)
    spec.loader.exec_module(module)
    return module.make_iis


def _scan(data: bytes, straightforward: bool, block: int = 8 * 1024 * 1024,
          filters: Filters | None = None) -> tuple[FileResult, list[dict[str, Any]]]:
    result, findings = FileResult("t.log", "iis"), Findings()
    scanner = W3cScanner(result, findings, filters or Filters(), straightforward=straightforward)
    for pos in range(0, len(data), block):
        scanner.feed(data[pos:pos + block])
    scanner.close()
    return result, findings.as_list()


def test_fast_path_matches_straightforward_on_the_benchmark_file(tmp_path: Path) -> None:
    log = tmp_path / "u_ex.log"
    lines, injected = _make_iis()(log, 6)
    data = log.read_bytes()
    fast_result, fast = _scan(data, straightforward=False, block=1024 * 1024)
    slow_result, slow = _scan(data, straightforward=True, block=1024 * 1024)
    assert fast_result.records == slow_result.records == lines  # make_iis counts the records
    assert fast == slow
    counts = {f["code"]: f["count"] for f in fast}
    assert counts == {"ntlm-bad-bindings": injected, "ntlm-three-401": injected} and injected > 0


_CLIENTS = ["10.0.0.1", "10.0.0.1", "-"]
_URLS = ["/EWS/mrsproxy.svc", "/ews/MRSProxy.svc", "-"]
_HANDSHAKE = [(401, 2, 5), (401, 1, 2148074254)]
_STEPS = _HANDSHAKE * 4 + [(401, 1, 3221226331), (401, 1, 3221226331), (401, 1, 2148074248), (401, 1, 5),
                           (200, 0, 0), (403, 7, 5), (403, 16, 2148204809), (407, 0, 0), (502, 3, 64),
                           (401, 1, 1326)]
_AGENTS = ["Mozilla/5.0+(Windows+NT+10.0)", "AMProbe/OAUTH/Exchange", "Mozilla/5.0+401+x"]
_record = st.tuples(st.integers(0, 59), st.sampled_from(_URLS), st.sampled_from(_STEPS),
                    st.sampled_from(_CLIENTS), st.sampled_from(_AGENTS))


def _log(records: list[tuple[int, str, tuple[int, int, int], str, str]], xff: bool) -> bytes:
    out = [IIS_HEADER]
    if xff:
        out.append(IIS_HEADER.splitlines()[-1] + " X-Forwarded-For\n")
    for i, (sec, url, (status, sub, win32), client, agent) in enumerate(records):
        line = iis_line(f"10:{i // 20:02d}:{sec:02d}", url, status, sub, win32, client, agent=agent)
        if xff:
            line = line[:-1] + (" 40.99.1.2\n" if i % 3 == 0 else " -\n")
        out.append(line)
    return "".join(out).encode()


_UA = _AGENTS[0]
_RESET = [(1, _URLS[0], _HANDSHAKE[1], "10.0.0.1", _UA), (2, _URLS[1], _HANDSHAKE[0], "10.0.0.1", _UA),
          (3, _URLS[0], (401, 1, 3221226331), "10.0.0.1", _UA)]  # a 401.2 between CHALLENGE and failure


@settings(max_examples=300, deadline=None)
@given(st.lists(_record, max_size=60), st.booleans(), st.integers(64, 4096))
@example(_RESET, False, 4096)
@example(_RESET * 3 + [(r[0], "-", r[2], "-", r[4]) for r in _RESET], True, 64)
def test_fast_path_matches_straightforward_on_random_records(
        records: list[tuple[int, str, tuple[int, int, int], str, str]], xff: bool, block: int) -> None:
    data = _log(records, xff)
    fast_result, fast = _scan(data, straightforward=False, block=block)
    slow_result, slow = _scan(data, straightforward=True)
    assert fast_result.records == slow_result.records == len(records)
    assert fast == slow


def test_fast_path_with_filters_matches_straightforward() -> None:
    records = [(1, "/EWS/mrsproxy.svc", s, "10.0.0.1", _AGENTS[0]) for s in _STEPS[:3]] * 4
    data = _log(records, xff=False)
    for filters in (Filters(since="2024-09-10T10:02:00"), Filters(url="*/ews/*")):
        assert _scan(data, False, filters=filters)[1] == _scan(data, True, filters=filters)[1]
