"""Proxy authentication for the forward proxy (RFC 9110 §11.7: 407, Proxy-Authenticate,
Proxy-Authorization): Basic, NTLM and Negotiate (Kerberos, with NTLM inside SPNEGO).

* :class:`ProxyAuth` holds the configured schemes (``auth = ["basic", "ntlm", "negotiate"]``), the
  users file (:mod:`bridgehead.core.proxy_auth`) and the keytab; :meth:`ProxyAuth.challenges`
  gives one ``Proxy-Authenticate`` value per scheme, in the configured order.
* :meth:`ProxyAuth.authenticate` takes one ``Proxy-Authorization`` value and the client
  connection's :class:`~bridgehead.runtime.asgi_auth.ConnState`. NTLM and Negotiate reuse the
  backend's acceptor (:class:`~bridgehead.runtime.asgi_auth.NegotiateScheme`): their handshake
  state lives on the client connection (MS-NTHT §2, RFC 4559 §6), and a connection that
  finished a handshake stays authenticated. Extended Protection does not apply (the client
  talks plain HTTP to the proxy). Basic verifies the scrypt hash in a thread; a connection
  remembers the digest of the value that verified so a keep-alive client that repeats it costs
  nothing more.
* Nothing here logs: the result carries a user name, a registry code and a detail that never
  contains the credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridgehead.core.ntlm.policy import EpPolicy
from bridgehead.core.proxy_auth import (
    BASIC_CHALLENGE,
    ProxyUser,
    UsersFormatError,
    ntlm_store,
    parse_basic,
    parse_users,
    verify_basic,
)
from bridgehead.runtime.asgi_auth import ConnState, NegotiateScheme, RequestInfo

SCHEMES = ("basic", "ntlm", "negotiate")
_BASIC_KEY = "proxy-basic"


class AuthConfigError(ValueError):
    pass


@dataclass
class AuthResult:
    state: str  # ok | continue | fail
    scheme: str
    user: str | None = None
    token: str | None = None  # Proxy-Authenticate value to send on "continue" (or a final token)
    code: str | None = None
    detail: str = ""


def load_users(path: Path) -> list[ProxyUser]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthConfigError(f"cannot read users file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise AuthConfigError(f"users file {path}: not UTF-8") from None
    try:
        return parse_users(text.splitlines())
    except UsersFormatError as exc:
        raise AuthConfigError(f"users file {path}: {exc}") from None


def _kerberos_factory() -> Any:
    """The Kerberos acceptor factory (python-gssapi), wherever this tree keeps it (it moved to runtime/)."""
    import importlib

    for name in ("bridgehead.runtime.ntlm_kerberos", "bridgehead.core.ntlm.kerberos"):
        try:
            return importlib.import_module(name).kerberos_factory
        except ModuleNotFoundError:
            continue
    raise AuthConfigError("keytab: the Kerberos acceptor is not available")


class ProxyAuth:
    def __init__(self, schemes: list[str], users: list[ProxyUser], keytab: Path | None = None) -> None:
        for name in schemes:
            if name not in SCHEMES:
                raise AuthConfigError(f"auth: unknown scheme {name!r} (known: {', '.join(SCHEMES)})")
        if not schemes:
            raise AuthConfigError("auth: name at least one scheme (basic, ntlm, negotiate)")
        self.schemes = list(dict.fromkeys(schemes))
        self.users = users
        store = ntlm_store(users)
        policy = EpPolicy()
        self._ntlm = NegotiateScheme("NTLM", store, policy) if "ntlm" in self.schemes else None
        self._negotiate: NegotiateScheme | None = None
        if "negotiate" in self.schemes:
            kerberos = None
            if keytab is not None:
                kerberos = _kerberos_factory()(keytab, policy, None)
            self._negotiate = NegotiateScheme("Negotiate", store, policy, kerberos=kerberos)

    def challenges(self) -> list[str]:
        words = {"basic": BASIC_CHALLENGE, "ntlm": "NTLM", "negotiate": "Negotiate"}
        return [words[name] for name in self.schemes]

    async def authenticate(self, header: str, conn: ConnState, client: tuple[str, int]) -> AuthResult:
        word, _, credentials = header.strip().partition(" ")
        name = word.lower()
        if name not in self.schemes:
            return AuthResult("fail", word, code="tmg-12209",
                              detail=f"scheme {word!r} is not offered (offered: {', '.join(self.schemes)})")
        if name == "basic":
            return await self._basic(credentials, conn)
        scheme = self._ntlm if name == "ntlm" else self._negotiate
        assert scheme is not None
        info = RequestInfo("CONNECT", "", None, {}, client, "http")
        try:
            result = await asyncio.to_thread(scheme.authenticate, credentials.strip(), info, conn)
        except Exception as exc:  # a GSSAPI failure must not cost the connection; no token in the text
            return AuthResult("fail", scheme.name, code="ntlm-invalid-token",
                              detail=f"{scheme.name} handshake failed ({type(exc).__name__})")
        token = result.www_authenticate[0] if result.www_authenticate else None
        if result.state == "continue":
            return AuthResult("continue", scheme.name, token=token)
        if not result.ok:
            return AuthResult("fail", scheme.name, code=result.code or "ntlm-logon-failure", detail=result.detail)
        return AuthResult("ok", scheme.name, user=result.user, token=token)

    async def _basic(self, credentials: str, conn: ConnState) -> AuthResult:
        digest = hashlib.sha256(credentials.strip().encode()).digest()
        remembered = conn.data.get(_BASIC_KEY)
        if remembered is not None and remembered[0] == digest:
            return AuthResult("ok", "Basic", user=remembered[1])
        try:
            creds = parse_basic(credentials)
        except ValueError as exc:
            return AuthResult("fail", "Basic", code="tmg-12209", detail=str(exc))
        user = await asyncio.to_thread(verify_basic, self.users, creds)
        if user is None:
            return AuthResult("fail", "Basic", code="tmg-12209",
                              detail="Basic: unknown user or wrong password")
        conn.data[_BASIC_KEY] = (digest, user.name)
        return AuthResult("ok", "Basic", user=user.name)


def add_user(path: Path, name: str, password: str | None, groups: list[str] | None = None) -> bool:
    """Add or replace ``name`` in the users file (created 0600, replaced atomically); True if replaced.

    ``password`` None writes a membership-only entry (no hashes; Negotiate users). ``groups`` None
    keeps the groups an existing entry has; a list replaces them."""
    import os
    import tempfile

    from bridgehead.core.proxy_auth import make_user, render_users, upsert

    users = load_users(path) if path.exists() else []
    if groups is None:
        old = next((u for u in users if u.name.lower() == name.lower()), None)  # the entry upsert replaces
        groups = list(old.groups) if old is not None else []
    try:
        new = make_user(name, password, groups)
    except UsersFormatError as exc:
        raise AuthConfigError(str(exc)) from None
    if password is None and not new.groups:
        raise AuthConfigError("--no-password makes an entry for group membership only: give --group")
    users, replaced = upsert(users, new)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise AuthConfigError(f"cannot write in {directory}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:  # mkstemp creates it 0600
            fh.write(render_users(users))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise AuthConfigError(f"cannot write {path}: {exc.strerror}") from None
    return replaced
