"""A store URL's password never appears in what bridgehead prints (an unreachable or bad store)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")
SECRET = "S3cretPW-never-shown"


@pytest.mark.parametrize("argv", [
    ["config", "history", "--store", f"postgresql+psycopg://bh:{SECRET}@127.0.0.1:1/x"],
    ["config", "history", "--store", f"bogus://bh:{SECRET}@127.0.0.1/x"],
    ["status", "--store", f"postgresql+psycopg://bh:{SECRET}@127.0.0.1:1/x"],
    ["ca", "export", "--store", f"postgresql+psycopg://bh:{SECRET}@127.0.0.1:1/x"],
])
def test_store_password_is_not_printed(argv: list[str], tmp_path: Path) -> None:
    done = subprocess.run([BRIDGEHEAD, *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0
    assert SECRET not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "***" in done.stderr or "the given URL" in done.stderr, done.stderr
