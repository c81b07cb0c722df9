"""Run lab scenarios: the truth table from ``core.lab.truth``, each row measured by its scenario's
runtime module in a fresh work directory; a scenario that cannot be built (a missing program)
keeps its rows unmeasured and says why in ``error``.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bridgehead.core.lab import truth
from bridgehead.core.lab.model import Row, Scenario
from bridgehead.runtime.lab.pki import PkiError
from bridgehead.runtime.lab.procs import MissingComponent, ProgramFailed

IDS = ("S1", "S2", "S3", "S4")
_BUILDERS: dict[str, tuple[Callable[[], Scenario], str]] = {
    "S1": (truth.s1, "bridgehead.runtime.lab.s1"),
    "S2": (truth.s2, "bridgehead.runtime.lab.s2"),
    "S3": (truth.s3, "bridgehead.runtime.lab.s3"),
    "S4": (truth.s4, "bridgehead.runtime.lab.s4"),
}


def run(ids: list[str], *, quick: bool = False, workdir: Path | None = None, keep: bool = False,
        progress: Callable[[str], None] | None = None) -> list[Scenario]:
    base = workdir or Path(tempfile.mkdtemp(prefix="bridgehead-lab-"))
    base.mkdir(parents=True, exist_ok=True)
    out: list[Scenario] = []
    try:
        for sid in ids:
            build, module = _BUILDERS[sid]
            sc = build()
            if quick:
                sc.rows = [r for r in sc.rows if r.quick]
            started = time.monotonic()
            if progress:
                progress(f"{sid}: measuring {len(sc.rows)} rows")
            measure: Callable[[list[Row], Path], None] = importlib.import_module(module).run
            d = base / sid
            d.mkdir(parents=True, exist_ok=True)
            try:
                measure(sc.rows, d)
            except (MissingComponent, ProgramFailed, PkiError, FileNotFoundError) as exc:
                sc.error = str(exc)
            sc.seconds = round(time.monotonic() - started, 1)
            out.append(sc)
    finally:
        if not keep and workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    return out
