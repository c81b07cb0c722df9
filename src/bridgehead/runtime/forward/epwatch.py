"""Watch inspected exchanges for channel-bound logons the inspection breaks (issue 13 item 9).

After each inspected request/response :func:`observe` hands the request's ``Authorization``
value, the response status, the DER of the leaf minted for the client (kept on its SSL context
by :mod:`bridgehead.runtime.forward.ca` as ``bh_leaf_der``) and the server's certificate to
:func:`bridgehead.core.inspection_binding.judge`. A finding is logged with its registry code;
with ``on_channel_binding_failure = "learn"`` (default) the proxy learns the destination so its
next connections tunnel (``bridgehead bypass list``); ``"log"`` only logs.
"""

from __future__ import annotations

from typing import Any

from bridgehead.core.inspection_binding import BindingFailure, judge
from bridgehead.wire.http1 import RequestHead

MODES = ("learn", "log")


def minted_leaf(stream: Any) -> bytes | None:
    """The leaf bridgehead presented on a client-side TLS stream."""
    obj = getattr(stream, "obj", None)
    context = getattr(obj, "context", None)
    der = getattr(context, "bh_leaf_der", None)
    return der if isinstance(der, bytes) else None


def observe(head: RequestHead, status: int, client_stream: Any, server_stream: Any) -> BindingFailure | None:
    """The channel-binding finding for one inspected exchange, or ``None``."""
    if status != 401:
        return None
    authorization = head.headers.get(b"authorization")
    if authorization is None:
        return None
    server_leaf = server_stream.peer_certificate_der() if server_stream is not None else None
    return judge(authorization, status, minted_leaf(client_stream), server_leaf)
