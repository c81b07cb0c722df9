"""Registers the ``kerberos`` identity delegator (:mod:`bridgehead.runtime.kcd.delegator`) for reverse routes.

Imported by :func:`bridgehead.runtime.reverse.delegation.build_delegator` the first time a route says
``identity = "kerberos"``. The route's ``[route.kerberos]`` table is validated here, so a bad table fails at
start-up with one line, not at the first request. Relative paths in the table are taken as given by the
loader (resolved against the configuration file when the loader does so, else against the working directory).
"""

from __future__ import annotations

from pathlib import Path

from bridgehead.core.kcd.config import KerberosConfigError, parse_settings
from bridgehead.core.kcd.spn import SpnError, render_spn
from bridgehead.core.reverse.model import Route
from bridgehead.runtime.kcd.delegator import KerberosDelegator
from bridgehead.runtime.reverse.delegation import DELEGATORS, Delegator


def kerberos_delegator(route: Route, state_dir: Path) -> Delegator:
    try:
        settings = parse_settings(route.kerberos)
        render_spn(settings.spn_template, route.backend.host, route.backend.port)
    except (KerberosConfigError, SpnError) as exc:
        raise LookupError(f"route {route.name!r}: {exc}") from None
    return KerberosDelegator(settings)


DELEGATORS["kerberos"] = kerberos_delegator
