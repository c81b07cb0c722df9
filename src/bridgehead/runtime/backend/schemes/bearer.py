"""The ``bearer`` scheme of the backend: Exchange S2S OAuth against the state dir's trust store.

``bridgehead backend --auth bearer --state-dir DIR --realm REALM`` (the realm ``*`` or none
accepts any realm in the audience; the application id is Exchange's
``00000002-0000-0ff1-ce00-000000000000`` unless ``options["service_id"]`` says otherwise).
Refusals carry Exchange's ``WWW-Authenticate: Bearer …, error="invalid_token"`` and
``x-ms-diagnostics``; the logged summary of the credential is the decoded token without
signature (:func:`bridgehead.core.oauth.describe.summarize`), never the token.
"""

from __future__ import annotations

import logging

from bridgehead.core.oauth.model import EXCHANGE_APP_ID
from bridgehead.runtime.asgi_auth import ConnState, RequestInfo, SchemeResult
from bridgehead.runtime.backend.config import BackendConfig
from bridgehead.runtime.oauth_bearer import BearerGate

log = logging.getLogger("bridgehead.oauth")

ERROR_ACCESS_DENIED = 5


class BearerScheme:
    name = "Bearer"
    connection_bound = False

    def __init__(self, gate: BearerGate) -> None:
        self.gate = gate

    def challenge(self) -> str:
        return self.gate.challenge_headers()[0][1]

    def authenticate(self, credentials: str, request: RequestInfo, conn: ConnState) -> SchemeResult:
        authorization = f"Bearer {credentials}"
        summary = BearerGate.log_summary(authorization)
        outcome = self.gate.check(authorization, host=request.host, scheme=request.scheme)
        log.info("cs-host=%s cs-uri-stem=%s cs(User-Agent)=%s Request-Authorization=%s result=%s",
                 request.host or "-", request.path, request.headers.get("user-agent", "-"), summary,
                 outcome.diagnostic.header if outcome.diagnostic else "ok")
        if outcome.principal is not None:
            p = outcome.principal
            return SchemeResult("ok", self.name, user=p.user or p.actor, summary=summary, outcome={
                "ok": True, "mech": "Bearer", "scheme": "Bearer", "token_type": p.token_type, "actor": p.actor,
                "issuer": p.issuer, "audience": p.audience, "principal": p.user or p.actor,
                "binding": "n/a", "binding_outcome": "n/a",
            })
        headers = dict(outcome.headers)
        diag = outcome.diagnostic
        return SchemeResult(
            "fail", self.name, code=diag.code if diag else None, win32=ERROR_ACCESS_DENIED, substatus=1,
            www_authenticate=[headers["WWW-Authenticate"]],
            extra_headers=[("x-ms-diagnostics", diag.header)] if diag else [],
            detail=diag.reason if diag else "", summary=summary,
        )


def build(config: BackendConfig) -> BearerScheme:
    if config.state_dir is None:
        raise ValueError("--auth bearer needs --state-dir DIR (the trust store)")
    realm = config.realm or "*"
    service_id = str(config.options.get("service_id", EXCHANGE_APP_ID))
    gate = BearerGate(config.state_dir, realm=realm, service_id=service_id)
    gate.policy()  # fail early on an unreadable store
    return BearerScheme(gate)
