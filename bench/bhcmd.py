"""The bridgehead command line for the benchmarks: the tree's own, or one from another source tree.

    bridgehead_argv()                 -> [.venv/bin/bridgehead]
    bridgehead_argv("/tmp/base/src")  -> [.venv/bin/python, -c, <run bridgehead from that src>]

A baseline tree for a before/after row in the same run: ``git archive COMMIT src | tar -x -C DIR``,
then ``--baseline DIR/src`` (bench/forward.py, bench/reverse.py).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bridgehead_argv(src: str | None = None) -> list[str]:
    if src is None:
        return [str(ROOT / ".venv" / "bin" / "bridgehead")]
    code = (f"import sys; sys.path.insert(0, {str(Path(src).resolve())!r}); sys.argv[0] = 'bridgehead'; "
            "from bridgehead.cli.main import main; sys.exit(main())")
    return [str(ROOT / ".venv" / "bin" / "python"), "-c", code]
