"""Which event loop runs a proxy: asyncio's own (default) or uvloop (``--event-loop uvloop``).

Measured with bench/forward.py, same load, same run: uvloop halves the proxy's CPU per request
on plain tunnels (CONNECT tunnels, SNI passthrough: bytes moved in the loop's callbacks, where the
loop itself is most of the cost) and changes nothing measurable for inspection or re-encryption,
whose cost is the TLS and HTTP work above the loop. So it is an option, not the default, and an
optional dependency (``pip install 'bridgehead[fast]'``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

LOOPS = ("asyncio", "uvloop")


class LoopUnavailable(RuntimeError):
    """The chosen event loop cannot be used here (uvloop not installed)."""


def check(name: str) -> None:
    """Raise :class:`LoopUnavailable` (one line for the command) when ``name`` cannot run."""
    if name == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise LoopUnavailable("--event-loop uvloop: uvloop is not installed "
                                  "(pip install 'bridgehead[fast]', or .venv/bin/pip install uvloop)") from None
    elif name != "asyncio":
        raise LoopUnavailable(f"--event-loop must be one of {', '.join(LOOPS)}")


def run(main: Coroutine[Any, Any, Any], name: str = "asyncio") -> Any:
    """``asyncio.run(main)`` on the chosen loop (called once per process: a forked worker chooses again)."""
    if name == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
