"""``--event-loop uvloop``: the same proxy on uvloop's event loop, a tunnel and an inspected request."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, Pki, curl, nginx_origin, status_of


def test_uvloop_tunnel_and_inspection(tmp_path: Path, pki: Pki, start_proxy) -> None:  # type: ignore[no-untyped-def]
    tunnel = start_proxy("--event-loop", "uvloop", "--exception-destination", ORIGIN_HOST)
    inspect = start_proxy("--event-loop", "uvloop")
    with nginx_origin(tmp_path, pki, verify="off") as port:
        body = os.urandom(8)  # an origin page is fetched twice: once through each proxy
        tunnelled = curl(pki, tunnel, f"https://{ORIGIN_HOST}:{port}/?{body.hex()}", cacert=pki.ca.cert)
        inspected = curl(pki, inspect, f"https://{ORIGIN_HOST}:{port}/?{body.hex()}", cacert=inspect.ca)
    assert status_of(tunnelled) == 200, tunnelled.stderr
    assert status_of(inspected) == 200, inspected.stderr
    assert tunnel.records()[0]["action"] == "tunnel"
    assert inspect.records()[0]["action"] == "inspect"
    for proxy in (tunnel, inspect):  # the loop really is uvloop's
        maps = Path(f"/proc/{proxy.proc.pid}/maps").read_text()
        assert "uvloop" in maps, "uvloop's extension is not loaded in the proxy process"


def test_unknown_event_loop_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([BRIDGEHEAD, "forward", "--event-loop", "trio", "--state-dir", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "trio" in done.stderr and "Traceback" not in done.stderr
