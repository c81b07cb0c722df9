"""The identity-delegation step: what a route adds to a request before it goes to the backend.

After the edge has authenticated a request (client certificate mapped to a user, or the
Basic fallback) and before the request head is written to the backend, the server calls::

    headers = await delegator.headers_for(route, identity, request)

The returned ``(name, value)`` pairs replace any field of the same name in the request
(e.g. ``Authorization: Negotiate <AP-REQ>`` from Kerberos constrained delegation). A
delegator refuses with :class:`DelegationError` carrying a registry code; the server answers
with that code's error page.

Delegators are registered in :data:`DELEGATORS` by the route's ``identity`` name; a factory
gets the :class:`~bridgehead.core.reverse.model.Route` (whose ``kerberos`` table it may read)
and the state directory. ``none`` and ``header`` live here; ``basic-passthrough`` forwards the
client's own Basic header; ``kerberos`` registers itself from its own module — if the name is
missing, :func:`build_delegator` imports ``MODULES[name]`` once, so a delegator module only
needs ``DELEGATORS["kerberos"] = factory`` at import time and one line in :data:`MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from bridgehead.core.reverse.model import Identity, Route
from bridgehead.wire.http1 import RequestHead


class DelegationError(Exception):
    """Delegation failed; ``code`` is a failure-registry code (its status and page are used)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Delegator(Protocol):
    async def headers_for(self, route: Route, identity: Identity, request: RequestHead) -> list[tuple[bytes, bytes]]:
        """Fields to set on ``request`` before it goes to the backend (may be empty)."""
        ...


DelegatorFactory = Callable[[Route, Path], Delegator]


class ImmediateDelegator:
    """A delegation step that never waits: ``headers_now`` gives its fields (the reverse proxy's
    callback lane relays such requests without a coroutine)."""

    def headers_now(self, route: Route, identity: Identity, request: RequestHead) -> list[tuple[bytes, bytes]]:
        return []

    async def headers_for(self, route: Route, identity: Identity, request: RequestHead) -> list[tuple[bytes, bytes]]:
        return self.headers_now(route, identity, request)


class NoDelegation(ImmediateDelegator):
    """``identity = "none"``: the request goes as the client sent it (NTLM/Negotiate end to end)."""


class BasicPassthrough(ImmediateDelegator):
    """``identity = "basic-passthrough"``: the client's Basic header (validated at the edge) goes on."""


class HeaderDelegation(ImmediateDelegator):
    """``identity = "header"``: the mapped user in a header (``identity_header``, default
    ``X-Bridgehead-User``) for a backend that trusts the proxy. Client-supplied copies of
    that header are always removed by the server first."""

    def headers_now(self, route: Route, identity: Identity, request: RequestHead) -> list[tuple[bytes, bytes]]:
        if identity.user is None:
            return []
        return [(route.identity_header.encode("latin-1"), identity.user.encode("utf-8"))]


DELEGATORS: dict[str, DelegatorFactory] = {
    "none": lambda route, state_dir: NoDelegation(),
    "basic-passthrough": lambda route, state_dir: BasicPassthrough(),
    "header": lambda route, state_dir: HeaderDelegation(),
}

# name → module that registers it in DELEGATORS when imported
MODULES: dict[str, str] = {
    "kerberos": "bridgehead.runtime.reverse.kerberos",
}


def build_delegator(route: Route, state_dir: Path) -> Delegator:
    """The delegator for ``route.identity``; ``LookupError`` with a clear message if none exists."""
    name = route.identity
    if name not in DELEGATORS and name in MODULES:
        try:
            importlib.import_module(MODULES[name])
        except ModuleNotFoundError as exc:
            if exc.name != MODULES[name]:
                raise
    factory = DELEGATORS.get(name)
    if factory is None:
        raise LookupError(f"route {route.name!r}: identity delegation {name!r} is not available "
                          f"(known: {', '.join(sorted(DELEGATORS))})")
    return factory(route, state_dir)
