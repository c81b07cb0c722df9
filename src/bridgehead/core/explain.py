"""``explain``: name the registry failures behind any error text, best first, with evidence.

How it works:
1. Every registry entry's ``signatures`` (case-insensitive regexes) are tried on the text;
   each hit scores ``10 + len(hit)//4`` (longer, more specific phrases weigh more, capped).
2. Numbers are pulled out — hex (``0x80090346``), unsigned (``2148074310``) and signed
   (``-2146892986``) 32-bit values, TMG codes (``12229``), Exchange diagnostics
   (``2000003``) — and every entry carrying one scores 40 (an exact code is strong evidence).
3. Domain hints adjust the ranking where the text itself says which of two neighbours
   applies (2000003 with Expected/Actual hosts that differ → audience mismatch; without the
   pair, or only the scheme differs → Host header / offloading).
4. Evidence shared by all matches is extracted once: hosts, users, HTTP status codes,
   Windows codes in all three spellings, Expected/Actual audience hosts, token issuer, and a
   decoded summary of any Authorization/Negotiate/Bearer value (never the raw token).

The input is capped at :data:`MAX_INPUT` characters; all patterns are bounded, so a hostile
input costs linear time.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from bridgehead.failures import REGISTRY, Failure, by_number
from bridgehead.wire import authsummary

MAX_INPUT = 1024 * 1024
SIGNATURE_BASE = 10
NUMBER_SCORE = 40

_HEX = re.compile(r"(?<![0-9A-Za-z])0x([0-9A-Fa-f]{1,8})(?![0-9A-Za-z])")
_DEC = re.compile(r"(?<![\w.])(-?\d{5,10})(?![\w])")
_URL = re.compile(r"\b(?:https?|net\.tcp)://([A-Za-z0-9._-]+)(?::\d+)?(/[^\s'\"<>)]*)?", re.I)
_QUOTED_HOST = re.compile(r"'((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})'")
_DOMAIN_USER = re.compile(r"(?<![\w\\])([A-Za-z][\w.-]{0,30})\\([A-Za-z0-9][\w.$-]{0,63})")
_UPN = re.compile(r"(?<![\w.@-])([A-Za-z0-9][\w.+-]{0,63}@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
_STATUS = (
    re.compile(r"\((\d{3})\)\s+[A-Z][a-z]"),  # .NET: (401) Unauthorized
    re.compile(r"\bHTTP/\d(?:\.\d)?\s+(\d{3})\b"),
    re.compile(r"\b(?:status(?: code)?|sc-status|HttpStatus)[\s:=\"]+(\d{3})\b", re.I),
    re.compile(r"(?<![\d.])([1-5]\d\d)\s+\d{1,3}\s+\d{1,10}\b"),  # IIS: 401 1 3221226331
    re.compile(r"(?<![\w.])([45]\d\d)\s*[-\u2013]\s*[A-Z][a-z]+"),  # 401 - Unauthorized
    re.compile(r"(?<![\w.])([45]0\d)\.\d{1,2}\b"),  # IIS 401.1 / 403.16
)
_EXPECTED_ACTUAL = re.compile(r"expected '([^']*)'\.?\s*actual '([^']*)'", re.I)
_AUDIENCE_VALUE = re.compile(r"audience claim value '([^']*)'", re.I)
_ISSUER = re.compile(r"issuer was '([^']*)'", re.I)
_AUTH_VALUE = re.compile(
    r"\b(NTLM|Negotiate|Bearer)[ +]([A-Za-z0-9+/=_.-]{16,})", re.I
)


@dataclass(frozen=True)
class ExplainMatch:
    failure: Failure
    score: int
    matched: tuple[str, ...]

    def as_dict(self, evidence: dict[str, Any]) -> dict[str, Any]:
        f = self.failure
        return {
            "code": f.code,
            "title": f.title,
            "cause": f.cause,
            "fix": f.fix,
            "evidence": {"matched": list(self.matched), **evidence},
            "references": list(f.references),
            "equivalents": f.equivalents(),
            "status": f.status,
            "score": self.score,
        }


@dataclass
class Explanation:
    matches: list[ExplainMatch]
    evidence: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"matches": [m.as_dict(self.evidence) for m in self.matches], "truncated": self.truncated}


@functools.lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[Failure, tuple[re.Pattern[str], ...]], ...]:
    return tuple((f, tuple(re.compile(s, re.I) for s in f.signatures)) for f in REGISTRY.values())


def windows_numbers(text: str) -> list[int]:
    """Distinct unsigned 32-bit values written in hex, unsigned or signed decimal (5+ digits)."""
    seen: dict[int, None] = {}
    for m in _HEX.finditer(text):
        seen[int(m.group(1), 16)] = None
    for m in _DEC.finditer(text):
        value = int(m.group(1))
        if -(2**31) <= value < 2**32:
            seen[value & 0xFFFFFFFF] = None
    return list(seen)


def code_forms(value: int) -> dict[str, Any]:
    """``0x80090346`` in its three spellings plus the registry names it carries."""
    signed = value - 2**32 if value >= 2**31 else value
    names = sorted({w for f in by_number(value) for w in f.windows if f"{value:#010x}".lower() in w.lower()})
    return {"hex": f"0x{value:08X}", "unsigned": value, "signed": signed, "names": names}


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def extract_evidence(text: str) -> dict[str, Any]:
    """Hosts, users, status codes, Windows codes and OAuth/auth details found in ``text``."""
    hosts = [m.group(1).lower() for m in _URL.finditer(text)]
    hosts += [m.group(1).lower() for m in _QUOTED_HOST.finditer(text)]
    users = [f"{m.group(1)}\\{m.group(2)}" for m in _DOMAIN_USER.finditer(text)
             if not m.group(1).lower().startswith(("c:", "http"))]
    users += [m.group(1) for m in _UPN.finditer(text)]
    statuses: list[int] = []
    for rx in _STATUS:
        statuses += [int(m.group(1)) for m in rx.finditer(text)]
    numbers = windows_numbers(text)
    evidence: dict[str, Any] = {
        "hosts": _unique(hosts),
        "users": _unique(users),
        "status": list(dict.fromkeys(statuses)),
        # Windows HRESULT/NTSTATUS/SSPI values live in the top half (severity bits); smaller
        # numbers are named only when the registry knows them (TMG 122xx, Exchange 2000xxx, Winsock).
        "codes": [code_forms(v) for v in numbers if v >= 0x80000000 or (v >= 0x10000000 and by_number(v))],
    }
    tmg = [v for v in numbers if 12200 <= v <= 12399 and by_number(v)]
    if tmg:
        evidence["tmg"] = tmg
    diagnostics = [v for v in numbers if 2000000 <= v <= 2000099 and by_number(v)]
    if diagnostics:
        evidence["exchange_diagnostics"] = diagnostics
    ea = _EXPECTED_ACTUAL.search(text)
    if ea:
        evidence["audience"] = {"expected": ea.group(1), "actual": ea.group(2)}
    else:
        av = _AUDIENCE_VALUE.search(text)
        if av:
            evidence["audience"] = {"value": av.group(1)}
    iss = _ISSUER.search(text)
    if iss:
        evidence["issuer"] = iss.group(1)
    auths = []
    for m in _AUTH_VALUE.finditer(text):
        summary = authsummary.summarize(f"{m.group(1)} {m.group(2)}")
        if "error" not in summary:
            auths.append(authsummary.one_line(summary))
    if auths:
        evidence["authorization"] = _unique(auths)
    return evidence


def _host_of(value: str) -> tuple[str, str]:
    """(scheme, host) of an audience value such as ``https://owa.example`` or ``owa.example``."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    return scheme.lower(), rest.split("/", 1)[0].split("@", 1)[0].lower()


def _hints(evidence: dict[str, Any], scores: dict[str, int]) -> None:
    """Text-specific tie-breakers between neighbouring entries (see module docstring, step 3)."""
    aud = evidence.get("audience")
    if aud is not None and "oauth-audience-host-mismatch" in scores:
        if "expected" in aud:
            (s1, h1), (s2, h2) = _host_of(aud["expected"]), _host_of(aud["actual"])
            if h1 == h2 and s1 != s2:  # only http vs https differs: offloading
                scores["oauth-host-header-missing"] = scores["oauth-audience-host-mismatch"] + 5
                scores["route-offload-oauth"] = max(scores.get("route-offload-oauth", 0), 20)
        else:  # no Expected/Actual pair: the request had no (usable) Host
            scores["oauth-host-header-missing"] = scores["oauth-audience-host-mismatch"] + 5


def explain(text: str, limit: int = 8) -> Explanation:
    """The registry entries that match ``text``, best first (at most ``limit``)."""
    truncated = len(text) > MAX_INPUT
    text = text[:MAX_INPUT]
    scores: dict[str, int] = {}
    hits: dict[str, list[str]] = {}
    for failure, patterns in _compiled():
        for rx in patterns:
            m = rx.search(text)
            if m:
                snippet = " ".join(m.group(0).split())
                weight = SIGNATURE_BASE + min(len(snippet), 120) // 4
                scores[failure.code] = scores.get(failure.code, 0) + weight
                hits.setdefault(failure.code, []).append(snippet[:200])
    for value in windows_numbers(text):
        for failure in by_number(value):
            scores[failure.code] = scores.get(failure.code, 0) + NUMBER_SCORE
            shown = f"0x{value:08X} ({value})" if value >= 0x10000000 else str(value)  # TMG/Exchange: decimal
            hits.setdefault(failure.code, []).append(shown)
    evidence = extract_evidence(text)
    _hints(evidence, scores)
    order = {code: i for i, code in enumerate(REGISTRY)}
    ranked = sorted(scores, key=lambda c: (-scores[c], order[c]))[:limit]
    matches = [ExplainMatch(REGISTRY[c], scores[c], tuple(_unique(hits.get(c, [])))) for c in ranked]
    return Explanation(matches=matches, evidence=evidence, truncated=truncated)
