"""`bridgehead lab run all --quick --json --report`: real topologies for S1-S4, the JSON contract of
issue 15, and the HTML report rendered by headless Chromium (screenshot decoded, not blank, green
for matching rows, red for a differing one)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from bridgehead.core.lab import truth
from bridgehead.core.lab.model import Row, Scenario
from bridgehead.runtime.lab import report
from bridgehead.runtime.lab.procs import find_program

BH = [sys.executable, "-m", "bridgehead"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    d = tmp_path_factory.mktemp("lab")
    html = d / "lab.html"
    r = subprocess.run([*BH, "lab", "run", "all", "--quick", "--json", "--report", str(html), "--workdir",
                        str(d / "work")], capture_output=True, text=True, timeout=120)
    return r, html


def test_quick_run_matches_every_truth_table(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    r, _ = quick_run
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert [s["id"] for s in doc["scenarios"]] == ["S1", "S2", "S3", "S4"]
    for sc in doc["scenarios"]:
        assert sc["rows"], sc["id"]
        for row in sc["rows"]:
            assert set(row) == {"case", "expected", "measured", "match"}
            assert row["match"] is True, row
    s2 = next(s for s in doc["scenarios"] if s["id"] == "S2")
    for row in s2["rows"]:
        assert row["case"]["ep"] in ("none", "allow", "require") and row["case"]["path"]
        assert "status" in row["measured"]
    # the seed's measured row through a proxy with another certificate: Off -> 400, Accept -> 401, Require -> 401
    seed = {row["case"]["ep"]: row["measured"]["status"] for row in s2["rows"]
            if row["case"]["path"] == "other-cert-reencrypt" and row["case"]["client"] == "cbt"}
    assert seed == {"none": 400, "allow": 401, "require": 401}
    bad = [row for row in s2["rows"] if row["measured"]["status"] == 401]
    assert all(row["measured"]["backend"] == "401 1 3221226331" for row in bad)
    s1 = {(x["case"]["server"], x["case"]["policy"]): x["measured"] for x in doc["scenarios"][0]["rows"]}
    assert s1[("required-tls12", "block")]["tmg"] == 12229
    assert s1[("required-tls13", "tunnel")]["server_saw"] == "client"
    s4 = {(x["case"]["cert"], x["case"]["delegation"]): x["measured"] for x in doc["scenarios"][3]["rows"]}
    assert {d for _, d in s4} == {"allowed", "spn-not-in-list", "no-protocol-transition", "kdc-down"}
    assert s4[("good", "allowed")]["user"] == "EXAMPLE.TEST\\alice"


def test_truth_tables_cover_the_issue_matrix() -> None:
    assert len(truth.s1().rows) == 6 * 3
    assert len(truth.s2().rows) == 3 * 5 * 2
    assert {r.case["row"] for r in truth.s3().rows} >= {"foreign-tenant", "no-host-header", "target-not-exchange-ews"}
    assert len(truth.s4().rows) == 4 * 4


def test_s4_full_table_with_a_real_kdc(tmp_path: Path) -> None:
    """Every S4 row: device certificate state x delegation right, measured through bridgehead reverse
    against a Heimdal KDC and a Negotiate-only backend; a revoked device is cut within max_age."""
    r = subprocess.run([*BH, "lab", "run", "S4", "--json", "--workdir", str(tmp_path / "work")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    [s4] = json.loads(r.stdout)["scenarios"]
    assert s4["id"] == "S4" and len(s4["rows"]) == 16 and all(row["match"] for row in s4["rows"])
    rows = {(x["case"]["cert"], x["case"]["delegation"]): x["measured"] for x in s4["rows"]}
    for delegation in ("allowed", "spn-not-in-list", "no-protocol-transition", "kdc-down"):
        revoked = rows[("revoked", delegation)]
        # it worked (or failed at delegation) before, and the CRL cut it within max_age + one read
        assert revoked["before"] == rows[("good", delegation)]["status"]
        assert 0 < revoked["refused_after_s"] <= truth.S4_MAX_AGE + 1.5
    assert rows[("good", "allowed")]["kdc_asked"] is True and rows[("expired", "allowed")]["kdc_asked"] is False
    work = tmp_path / "work" / "S4"
    down = [json.loads(x) for x in (work / "reverse-kdc-down.access.log").read_text().splitlines() if x.strip()]
    assert next(x["code"] for x in down if x.get("action") == "deny") == "krb-kdc-unreachable"
    log = (work / "reverse-allowed.access.log").read_text()
    assert "Negotiate" not in log and "YII" not in log  # never a ticket in the access log


def test_s4_needs_heimdal_or_names_the_package(tmp_path: Path) -> None:
    from bridgehead.runtime.lab import procs

    saved = procs.COMPONENTS["kdc"]
    procs.COMPONENTS["kdc"] = (("/nonexistent/kdc",), "heimdal-kdc")
    try:
        from bridgehead.runtime.lab import runner

        [sc] = runner.run(["S4"], workdir=tmp_path)
    finally:
        procs.COMPONENTS["kdc"] = saved
    assert not sc.ok and sc.error is not None and "heimdal-kdc" in sc.error
    assert all(row.measured is None for row in sc.rows)


def test_mismatch_shows_both_sides() -> None:
    row = Row({"ep": "allow", "path": "direct"}, {"status": 400}, {"status": 401})
    sc = Scenario("S2", "t", "002", ["ep", "path"], ["status"], [row])
    assert not row.match and not sc.ok
    assert row.mismatches() == ["status: expected 400, measured 401"]
    assert "status=400 (measured 401)" in report.text_table(sc)
    assert not Row({"x": 1}, {"status": 200}).match  # not measured never matches


def test_bad_scenario_is_one_line() -> None:
    r = subprocess.run([*BH, "lab", "run", "S9"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown scenario" in r.stderr


# ---- the report in headless Chromium ----------------------------------------------------------------
def _png_pixels(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, bytes per pixel and the unfiltered pixel rows of an 8-bit non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out += line
        prev = line
    return width, height, bpp, bytes(out)


def _screenshot(html: Path, tmp: Path) -> tuple[set[tuple[int, int, int]], int]:
    chromium = find_program("chromium")
    shot = tmp / f"{html.stem}.png"
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
            "--hide-scrollbars", "--window-size=900,700", f"--screenshot={shot}", html.as_uri()]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert shot.exists(), r.stderr[-2000:]
    width, height, bpp, pixels = _png_pixels(shot.read_bytes())
    colours = {tuple(pixels[i:i + 3]) for i in range(0, len(pixels), bpp * 7)}
    return colours, width * height  # type: ignore[return-value]


def _near(colours: set[tuple[int, int, int]], target: tuple[int, int, int]) -> bool:
    return any(all(abs(c[i] - target[i]) <= 6 for i in range(3)) for c in colours)


def test_report_renders_in_chromium(quick_run: tuple[subprocess.CompletedProcess[str], Path],
                                    tmp_path: Path) -> None:
    _, html = quick_run
    text = html.read_text()
    assert 'href="#code-client-cert-under-inspection"' in text and 'id="code-ntlm-bad-bindings"' in text
    colours, area = _screenshot(html, tmp_path)
    assert area == 900 * 700
    assert len(colours) > 20, "blank screenshot"
    assert _near(colours, (0xD6, 0xF5, 0xDC))  # matching rows are green
    assert not _near(colours, (0xF9, 0xD3, 0xD0))  # nothing differs
    # the same report with one differing row shows red
    sc = Scenario("S2", "differs", "002", ["ep", "path"], ["status", "code"],
                  [Row({"ep": "allow", "path": "other-cert-reencrypt"}, {"status": 400},
                       {"status": 401, "code": "ntlm-bad-bindings"})])
    bad = tmp_path / "bad.html"
    bad.write_text(report.html_report([sc], quick=True))
    assert 'href="#code-ntlm-bad-bindings"' in bad.read_text()
    colours, _ = _screenshot(bad, tmp_path)
    assert _near(colours, (0xF9, 0xD3, 0xD0))
