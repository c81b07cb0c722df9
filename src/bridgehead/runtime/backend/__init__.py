"""``bridgehead backend``: an IIS/Exchange stand-in for tests and labs.

* :mod:`.config` — :class:`~bridgehead.runtime.backend.config.BackendConfig`, everything the command line sets.
* :mod:`.schemes` — authentication schemes by name (``negotiate``, ``ntlm``, ``basic``; a
  ``bearer`` module plugs in the same way), each building an
  :class:`bridgehead.runtime.asgi_auth.AuthScheme` from the config.
* :mod:`.app` — the Starlette app with Exchange-like endpoints, wrapped in the auth
  middleware and the IIS logging middleware.
* :mod:`.w3c` / :mod:`.freb` — IIS W3C log lines and FREB failed-request traces.
* :mod:`.server` — uvicorn with TLS from ``runtime.tls`` and per-connection tracking.
"""
