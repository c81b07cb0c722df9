"""The ``basic`` scheme (RFC 7617) against the same users file; the password never reaches a log."""

from __future__ import annotations

import base64
import binascii
import hmac

from bridgehead.core.ntlm.users import UserStore
from bridgehead.runtime.asgi_auth import ConnState, RequestInfo, SchemeResult
from bridgehead.runtime.backend.config import BackendConfig
from bridgehead.runtime.users_file import load_users
from bridgehead.wire.pyspnego_private import ntowfv1

ERROR_LOGON_FAILURE = 1326  # what IIS logs for a failed Basic logon (401 1 1326)


class BasicScheme:
    name = "Basic"
    connection_bound = False

    def __init__(self, users: UserStore, realm: str) -> None:
        self.users = users
        self.realm = realm

    def challenge(self) -> str:
        return f'Basic realm="{self.realm}"'

    def authenticate(self, credentials: str, request: RequestInfo, conn: ConnState) -> SchemeResult:
        try:
            text = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return SchemeResult("fail", self.name, code="ntlm-invalid-token", win32=ERROR_LOGON_FAILURE,
                                substatus=1, detail="Basic credentials are not base64 user:password",
                                summary="[malformed Basic]")
        login, sep, password = text.partition(":")
        domain, _, name = login.rpartition("\\")
        summary = f"[Basic user={login} password=***]"
        user = self.users.find(domain or None, name) if sep else None
        if user is None or not hmac.compare_digest(ntowfv1(password), user.nt_hash):
            return SchemeResult("fail", self.name, user=login or None, code="ntlm-logon-failure",
                                win32=ERROR_LOGON_FAILURE, substatus=1,
                                detail="unknown user or wrong password", summary=summary)
        principal = f"{domain}\\{name}" if domain else name
        return SchemeResult("ok", self.name, user=principal, summary=summary,
                            outcome={"ok": True, "mech": "Basic", "user": name, "domain": domain or None,
                                     "principal": principal, "binding": "n/a", "binding_outcome": "n/a",
                                     "scheme": "Basic"})


def build(config: BackendConfig) -> BasicScheme:
    return BasicScheme(load_users(config.users) if config.users else UserStore([]), config.basic_realm)
