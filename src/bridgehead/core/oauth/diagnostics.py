"""The HTTP face of a validation result: Bearer challenge and ``x-ms-diagnostics``, as Exchange.

Exchange answers a refused bearer token with 401 and two headers::

    WWW-Authenticate: Bearer client_id="00000002-…", trusted_issuers="00000001-…@REALM",
        token_types="app_asserted_user_v1 service_asserted_app_v1",
        authorization_uri="https://login.windows.net/common/oauth2/authorize", error="invalid_token"
    x-ms-diagnostics: 2000003;reason="…";error_category="invalid_resource"

(RFC 6750 §3 for the challenge and its ``error`` parameter.) The number and category come
from the failure registry (:mod:`bridgehead.failures.oauth`): the code table lives there,
the reason text is built by the validator. An anonymous request gets the same challenge
without ``error`` and without diagnostics — that is how a client learns ``client_id`` and
``trusted_issuers`` before it asks its token service for a token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridgehead.core.oauth.model import TOKEN_TYPES, TrustPolicy
from bridgehead.failures import get
from bridgehead.failures.model import Failure


@dataclass(frozen=True)
class Diagnostic:
    """One refusal: the registry entry, its Exchange number and category, and the reason."""

    code: str
    number: int
    category: str
    reason: str

    @property
    def header(self) -> str:
        return f'{self.number};reason="{self.reason}";error_category="{self.category}"'


def diagnostic(code: str, reason: str) -> Diagnostic:
    """Build a diagnostic for registry entry ``code`` (which must carry a 2000xxx number)."""
    entry: Failure = get(code)
    numbers = [n for n in entry.numbers if 2000000 <= n <= 2999999]
    if not numbers or entry.category is None:
        raise KeyError(f"failure {code!r} has no Exchange diagnostic number/category in the registry")
    return Diagnostic(code, numbers[0], entry.category, _quote_safe(reason))


def challenge(policy: TrustPolicy, *, error: bool) -> str:
    """The ``WWW-Authenticate`` value (RFC 6750 §3), with ``error="invalid_token"`` on refusal."""
    params = [
        f'client_id="{policy.service_id}"',
        f'trusted_issuers="{policy.trusted_issuers_text()}"',
        f'token_types="{TOKEN_TYPES}"',
        f'authorization_uri="{policy.authorization_uri}"',
    ]
    if error:
        params.append('error="invalid_token"')
    return "Bearer " + ", ".join(params)


_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
_DIAG = re.compile(r'^\s*(\d+)\s*;\s*reason="(.*)"\s*;\s*error_category="([^"]*)"\s*$', re.DOTALL)


def parse_challenge(value: str) -> dict[str, str] | None:
    """The parameters of a ``Bearer`` challenge (RFC 7235 §2.1 auth-param), or ``None``."""
    for part in _split_challenges(value):
        scheme, _, rest = part.strip().partition(" ")
        if scheme.lower() == "bearer":
            return {
                m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3) or "")
                for m in _PARAM.finditer(rest)
            }
    return None


def _split_challenges(value: str) -> list[str]:
    # Challenges in one header are separated by a comma before a new scheme token; schemes we
    # meet here (Bearer, Negotiate, NTLM, Basic) start a part of their own.
    return re.split(r",\s*(?=(?:Bearer|Negotiate|NTLM|Basic|Digest)\b)", value, flags=re.IGNORECASE)


def parse_diagnostics(value: str) -> tuple[int, str, str] | None:
    """``(number, reason, category)`` from an ``x-ms-diagnostics`` value, or ``None``."""
    match = _DIAG.match(value)
    if match is None:
        return None
    return int(match.group(1)), match.group(2), match.group(3)


def _quote_safe(text: str) -> str:
    # header values: no CR/LF, no bare double quote inside the quoted reason
    return re.sub(r"[\r\n]+", " ", text).replace('"', "'")
