"""Authentication schemes of the backend, by the name ``--auth`` uses.

Each entry maps a name to ``(module, function)``; the function takes the
:class:`~bridgehead.runtime.backend.config.BackendConfig` and returns an object following
:class:`bridgehead.runtime.asgi_auth.AuthScheme`. Modules load lazily, so a scheme's optional
dependency stays optional. To add a scheme (e.g. ``bearer`` for Exchange OAuth), write
``schemes/bearer.py`` with ``build(config) -> AuthScheme`` — the entry below already points there.
"""

from __future__ import annotations

import importlib
from typing import Any

from bridgehead.runtime.backend.config import BackendConfig

SCHEMES: dict[str, tuple[str, str]] = {
    "negotiate": ("bridgehead.runtime.backend.schemes.negotiate", "build_negotiate"),
    "ntlm": ("bridgehead.runtime.backend.schemes.negotiate", "build_ntlm"),
    "basic": ("bridgehead.runtime.backend.schemes.basic", "build"),
    "bearer": ("bridgehead.runtime.backend.schemes.bearer", "build"),
}


class UnknownScheme(ValueError):
    pass


def build(name: str, config: BackendConfig) -> Any:
    target = SCHEMES.get(name.lower())
    if target is None:
        raise UnknownScheme(f"unknown authentication scheme {name!r} (known: {', '.join(sorted(SCHEMES))})")
    try:
        module = importlib.import_module(target[0])
    except ModuleNotFoundError as exc:
        if exc.name == target[0]:
            raise UnknownScheme(f"authentication scheme {name!r} is not available in this build") from None
        raise
    return getattr(module, target[1])(config)


def build_all(config: BackendConfig) -> list[Any]:
    return [build(name, config) for name in config.auth]
