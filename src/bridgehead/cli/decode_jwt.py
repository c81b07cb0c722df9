"""``bridgehead decode Bearer …`` / a bare JWT: the OAuth decoder plugged into ``decode_cmd.DECODERS``.

Header, claims (times as dates, with their meaning), the nested ``actortoken`` decoded too,
and — with ``decode --at HOST`` — whether the audience fits that Host. Never a signature.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bridgehead.cli.common import CliError
from bridgehead.core.oauth.describe import DescribeError, describe


def decode_bearer(cred: str, ctx: Any) -> dict[str, Any]:
    at_host = getattr(ctx, "at_host", None)
    try:
        result = describe(cred, at_host=at_host, now=dt.datetime.now(dt.UTC))
    except DescribeError as exc:
        raise CliError(str(exc)) from None
    out: dict[str, Any] = {"scheme": "Bearer", "token_type": result["token_type"]}
    out.update(_flat(result))
    actor = result.get("actortoken")
    if isinstance(actor, dict):
        out["actortoken"] = _flat(actor) if "error" not in actor else actor
    if "audience_check" in result:
        out["audience_check"] = result["audience_check"]
    return out


def _flat(part: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    meanings: dict[str, str] = {}
    for c in part["claims"]:
        value = c["value"]
        claims[c["name"]] = f"{c['date']} ({value})" if "date" in c else value
        if c["meaning"]:
            meanings[c["name"]] = c["meaning"]
    out: dict[str, Any] = {
        "header": {h["name"]: h["value"] for h in part["header"]},
        "claims": claims,
        "signature": part["signature"],
        "meaning": meanings,
    }
    if "expired" in part:
        out["expired"] = part["expired"]
    return out
