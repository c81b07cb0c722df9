"""The bridgehead command line for the benchmarks: the tree's own, or one from another source tree.

    bridgehead_argv()                 -> [.venv/bin/bridgehead]
    bridgehead_argv("/tmp/base/src")  -> [.venv/bin/python, -c, <run bridgehead from that src>]

A baseline tree for a before/after row in the same run: ``git archive COMMIT src | tar -x -C DIR``,
then ``--baseline DIR/src`` (bench/forward.py, bench/reverse.py); ``--uvloop`` adds rows with
the same tree under uvloop, ``--aiofastnet`` under aiofastnet's transports (``pip install aiofastnet``).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bridgehead_argv(src: str | None = None, *, uvloop: bool = False, aiofastnet: bool = False) -> list[str]:
    """``uvloop``: run under uvloop's event loop policy; ``aiofastnet``: with aiofastnet's Cython
    transports under asyncio's loop (``aiofastnet.install_policy()``). Measurements only."""
    if src is None and not uvloop and not aiofastnet:
        return [str(ROOT / ".venv" / "bin" / "bridgehead")]
    code = ((f"import sys; sys.path.insert(0, {str(Path(src).resolve())!r}); " if src else "import sys; ")
            + ("import uvloop; uvloop.install(); " if uvloop else "")
            + ("import aiofastnet; aiofastnet.install_policy(); " if aiofastnet else "")
            + "sys.argv[0] = 'bridgehead'; from bridgehead.cli.main import main; sys.exit(main())")
    return [str(ROOT / ".venv" / "bin" / "python"), "-c", code]
