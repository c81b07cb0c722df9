"""``explain``: name the registry failures behind any error text, best first, with evidence.

How it works:
1. Every registry entry's ``signatures`` (case-insensitive regexes) are tried on the text;
   each hit scores ``10 + len(hit)//4`` (longer, more specific phrases weigh more, capped).
2. Numbers are pulled out — hex (``0x80090346``), unsigned (``2148074310``) and signed
   (``-2146892986``) 32-bit values, TMG codes (``12229``), Exchange diagnostics
   (``2000003``) — and every entry carrying one scores 40 (an exact code is strong evidence).
3. Domain hints adjust the ranking where the text itself says which of two neighbours
   applies (2000003 with Expected/Actual hosts that differ → audience mismatch; without the
   pair, or only the scheme differs → Host header / offloading; naming the aud value without a
   hostname component → a token for another resource).
4. Bridgehead's own words are recognised directly: a registry code (``upstream-cert-expired``),
   an ``X-Bridgehead-Code:`` / ``X-Bridgehead-TMG-Status:`` header line, and the status line
   of its pages — whole, shortened ("Proxy Error ( The server certificate has exp…") or
   reworded — by the share of an entry's title words the text contains.
5. Stated facts override patterns: a server that offered only ``Basic`` is not an NTLM /
   Extended Protection failure whatever client text surrounds it; an explicit TLS alert name
   or number outweighs a generic Windows number. A text about another program (SSH, a
   database, a cache) with nothing of HTTP/TLS/proxies in it gets no generic transport answer
   (its "connection refused" is not an upstream's).
6. The answer carries a confidence (the top score and its lead over the runner-up); the
   runner-up causes are the further matches.
7. Evidence shared by all matches is extracted once: hosts, users, HTTP status codes,
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

from bridgehead.failures import REGISTRY, Failure, by_number, by_tls_alert, by_tmg, by_x509
from bridgehead.failures.wording import X509_NAMES
from bridgehead.wire import authsummary

MAX_INPUT = 1024 * 1024
SIGNATURE_BASE = 10
NUMBER_SCORE = 40
CODE_SCORE = 100  # the text names a registry code (or carries bridgehead's code header)
TITLE_SCORE = 45  # the text is (most of) an entry's title: bridgehead's own status line
FACT_SCORE = 50  # a stated fact (an explicit TLS alert, the offered schemes) decides

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

    @property
    def confidence(self) -> float:
        """0..1: how strong the top match is and how far it leads the runner-up."""
        if not self.matches:
            return 0.0
        top = self.matches[0].score
        second = self.matches[1].score if len(self.matches) > 1 else 0
        strength = min(1.0, top / 60)
        lead = (top - second) / top if top else 0.0
        return round(strength * (0.5 + 0.5 * lead), 2)

    @property
    def confidence_label(self) -> str:
        c = self.confidence
        return "high" if c >= 0.7 else "medium" if c >= 0.4 else "low" if self.matches else "none"

    def as_dict(self) -> dict[str, Any]:
        return {"matches": [m.as_dict(self.evidence) for m in self.matches], "truncated": self.truncated,
                "confidence": self.confidence, "confidence_label": self.confidence_label,
                "runner_up": [m.failure.code for m in self.matches[1:]]}


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
    diagnostics = [v for v in numbers if (2000000 <= v <= 2000099 or 4000000 <= v <= 4000099) and by_number(v)]
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


def _hints(evidence: dict[str, Any], scores: dict[str, int], text: str) -> None:
    """Text-specific tie-breakers between neighbouring entries (see module docstring, step 3)."""
    if "oauth-audience-wrong-resource" in scores and "hostname component" not in text.lower():
        # 2000003 naming the aud value itself: a token for another resource, not a host mismatch
        scores["oauth-audience-wrong-resource"] = max(scores.get("oauth-audience-host-mismatch", 0),
                                                      scores["oauth-audience-wrong-resource"]) + 5
        return
    aud = evidence.get("audience")
    if aud is not None and "oauth-audience-host-mismatch" in scores:
        if "expected" in aud:
            (s1, h1), (s2, h2) = _host_of(aud["expected"]), _host_of(aud["actual"])
            if h1 == h2 and s1 != s2:  # only http vs https differs: offloading
                scores["oauth-host-header-missing"] = scores["oauth-audience-host-mismatch"] + 5
                scores["route-offload-oauth"] = max(scores.get("route-offload-oauth", 0), 20)
        else:  # no Expected/Actual pair: the request had no (usable) Host
            scores["oauth-host-header-missing"] = scores["oauth-audience-host-mismatch"] + 5


_CODE_HEADER = re.compile(r"x-bridgehead-(?:code|failure)\s*[:=]\s*\"?([a-z0-9][a-z0-9-]{1,60})", re.I)
_TMG_HEADER = re.compile(r"x-bridgehead-tmg-status\s*[:=]\s*(\d{5})", re.I)
_CODE_TOKEN = re.compile(r"(?<![\w-])([a-z][a-z0-9]*(?:-[a-z0-9]+)+)(?![\w-])")
_WORD = re.compile(r"[a-z0-9]+")
# the reason phrase of bridgehead's status line: "502 Proxy Error ( TITLE. )", possibly cut off
_REASON = re.compile(r"(?:proxy error|unauthorized|forbidden|not found|bad request|timeout|too large|error|"
                     r"required)\s*\(\s*([^\r\n]{8,300}?)\s*(?:\.?\s*\)\s*$|\u2026|\.\.\.|$)", re.I | re.M)
_STOP = frozenset("the a an is are was were be been has have had of to for by in on at or and with that this "
                  "it its not no from as than cannot can could does did do".split())
_STATUS_LINE = re.compile(r"proxy error|\bHTTP/\d(?:\.\d)?\s+\d{3}|\(\d{3}\)|^\s*\d{3}\s", re.I | re.M)
# Alerts by number in the wording of OpenSSL, Schannel, .NET and Java (RFC 8446 §6)
_ALERT_NUMBER = re.compile(
    r"(?:fatal )?alert(?: code| number| description| message)?(?: is| was)?(?: received| generated)?[\s:=(#]*"
    r"(\d{1,3})\b", re.I
)  # ... "The following fatal alert was received: 47." / "was generated: 40." (Schannel 36887 / 36888)


def _stem(word: str) -> str:
    return word[:5]


def _title_words(title: str) -> tuple[str, ...]:
    words = [_stem(w) for w in _WORD.findall(title.lower()) if w not in _STOP and len(w) > 2]
    return tuple(dict.fromkeys(words))


@functools.lru_cache(maxsize=1)
def _titles() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((f.code, _title_words(f.title)) for f in REGISTRY.values())


@functools.lru_cache(maxsize=1)
def _flat_titles() -> tuple[tuple[str, str], ...]:
    return tuple((f.code, " ".join(_WORD.findall(f.title.lower()))) for f in REGISTRY.values())


def _direct(text: str, scores: dict[str, int], hits: dict[str, list[str]]) -> None:
    """Bridgehead's own words: codes, its headers, its status lines (module docstring, step 4)."""
    def add(code: str, score: int, why: str) -> None:
        scores[code] = scores.get(code, 0) + score
        hits.setdefault(code, []).append(why)

    in_header = {m.group(1).lower() for m in _CODE_HEADER.finditer(text)} & REGISTRY.keys()
    for code in sorted(in_header):  # the page's own header decides, whatever its body quotes
        add(code, 3 * CODE_SCORE, f"X-Bridgehead-Code {code}")
    named = {m.group(1) for m in _CODE_TOKEN.finditer(text.lower()) if m.group(1) in REGISTRY}
    for code in sorted(named - in_header):
        add(code, CODE_SCORE, f"code {code}")
    for m in _TMG_HEADER.finditer(text):
        for failure in by_tmg(int(m.group(1))):
            add(failure.code, CODE_SCORE // 2, f"X-Bridgehead-TMG-Status {m.group(1)}")
    if len(text) > 4000:
        return
    for m in _REASON.finditer(text):  # "Proxy Error ( The server certificate has exp…"
        fragment = " ".join(_WORD.findall(m.group(1).lower()))
        if len(fragment) < 12:
            continue
        same = [code for code, title in _flat_titles() if title.startswith(fragment) or fragment.startswith(title)]
        for code in same:
            add(code, TITLE_SCORE + (35 if len(same) == 1 else 0), f"status line '{m.group(1).strip()[:80]}'")
    words = {_stem(w) for w in _WORD.findall(text.lower()) if len(w) > 2}
    partial = [w for w in _WORD.findall(text.lower()[-40:]) if len(w) > 2][-1:]  # a cut-off last word
    status_line = bool(_STATUS_LINE.search(text))
    for code, title in _titles():
        if len(title) < 3:
            continue
        have = sum(1 for w in title if w in words or any(w.startswith(p[:5]) and len(p) >= 3 for p in partial))
        share = have / len(title)
        # a status line of bridgehead's pages: most of the title; free text: nearly all of it
        if share >= (0.6 if status_line else 0.85) and have >= 3:
            add(code, int(TITLE_SCORE * share * (0.7 if status_line else 0.3)), f"title words {have}/{len(title)}")


_X509_NUMBER = re.compile(
    r"(?:verify error:num=|verify return code: |X509_V_ERR[ _]?|verify error: \(|\(X509_V_ERR |"
    r"certificate verification: error \()(\d{1,2})\b", re.I)  # the last: Apache mod_ssl AH02039 / AH02276
_X509_NAME = re.compile(r"X509_V_ERR_([A-Z_]+)")
# nginx client-certificate verify errors → the reverse edge's entries
_APACHE_CLIENT_VERIFY = re.compile(r"AH020(?:39|76): Certificate Verification: Error \(")
_EDGE_X509 = {9: "edge-client-cert-expired", 10: "edge-client-cert-expired", 23: "edge-client-cert-revoked"}


def _facts(text: str, scores: dict[str, int], hits: dict[str, list[str]]) -> None:
    """Stated facts that override patterns (module docstring, step 5)."""
    lowered = text.lower()
    # The schemes the server offered, as clients quote them.
    offered = re.findall(r"authentication header received from the server was '([^']*)'", lowered)
    offered += re.findall(r"www-authenticate:\s*([a-z-]+)", lowered)
    schemes = {o.split()[0].strip(",") for o in offered if o.strip()}
    if schemes and schemes <= {"basic"}:
        for code in list(scores):
            if code.startswith(("ntlm-", "ep-")):
                scores[code] = max(1, scores[code] // 4)
        scores["auth-basic-only"] = scores.get("auth-basic-only", 0) + FACT_SCORE + 20
        hits.setdefault("auth-basic-only", []).append("the server offered only Basic")
    # An X509 verify error by number or name decides between the certificate entries; nginx's
    # "client SSL certificate verify error" is about the client's certificate (edge entries).
    x509 = {int(m.group(1)) for m in _X509_NUMBER.finditer(text)}
    x509 |= {X509_NAMES[m.group(1)] for m in _X509_NAME.finditer(text) if m.group(1) in X509_NAMES}
    # Apache's "AH02039: Certificate Verification: Error (N)" is mod_ssl verifying the client's certificate
    client_side = "client ssl certificate verify error" in lowered or bool(_APACHE_CLIENT_VERIFY.search(text))
    for number in sorted(x509):
        codes = [_EDGE_X509.get(number, "edge-client-cert-untrusted")] if client_side else \
            [f.code for f in by_x509(number)]
        for code in codes:
            scores[code] = scores.get(code, 0) + FACT_SCORE
            hits.setdefault(code, []).append(f"X509 verify error {number}")
    # An explicit TLS alert outweighs a generic Windows number (SEC_E_ILLEGAL_MESSAGE, ...).
    alerts = {int(m.group(1)) for m in _ALERT_NUMBER.finditer(text)}
    for code in list(scores):
        if code.startswith("tls-alert-") and any(h for h in hits.get(code, []) if not h.startswith("0x")):
            alerts.add(int(code.rsplit("-", 1)[1]))
    for alert in sorted(alerts):
        for failure in by_tls_alert(alert):
            scores[failure.code] = scores.get(failure.code, 0) + FACT_SCORE
            hits.setdefault(failure.code, []).append(f"TLS alert {alert}")


# A text that names a program outside bridgehead's ground (SSH, a database, a cache) and nothing of HTTP, TLS or
# a proxy: its "connection refused" / "could not resolve" is that program's, not an upstream of a proxy.
_OTHER_PROGRAM = re.compile(
    r"\bssh(?:d|_exchange_identification)?\b\s*[:\[]|\bport 22\b|\bpsql\b|\bpg_\w+:|\bpostgres(?:ql)?\b|"
    r"\bport 5432\b|\bmysql|\bredis\b|\bmongo(?:db)?\b|\bORA-\d{5}\b|\bsqlstate\b|\bmemcached?\b", re.I)
_WEB_CONTEXT = re.compile(r"https?://|\bHTTPS?\b|\bTLS\b|\bSSL\b|\bproxy\b|(?-i:\bCONNECT\b)|:443\b", re.I)
_TRANSPORT_ONLY = ("upstream-unreachable", "upstream-dns-failed", "upstream-timeout")


def _out_of_scope(text: str, scores: dict[str, int]) -> None:
    """Generic transport failures of another program are not answered (module docstring, step 5)."""
    if _OTHER_PROGRAM.search(text) and not _WEB_CONTEXT.search(text):
        for code in _TRANSPORT_ONLY:
            scores.pop(code, None)


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
    _direct(text, scores, hits)
    _facts(text, scores, hits)
    _out_of_scope(text, scores)
    evidence = extract_evidence(text)
    _hints(evidence, scores, text)
    order = {code: i for i, code in enumerate(REGISTRY)}
    ranked = sorted((c for c in scores if c in REGISTRY), key=lambda c: (-scores[c], order[c]))[:limit]
    matches = [ExplainMatch(REGISTRY[c], scores[c], tuple(_unique(hits.get(c, [])))) for c in ranked]
    return Explanation(matches=matches, evidence=evidence, truncated=truncated)


def listing() -> list[dict[str, Any]]:
    """Every registry code with its title, area, HTTP status and platform numbers (``explain --list``)."""
    return [{"code": f.code, "title": f.title, "area": f.area, "status": f.status, **f.platform()}
            for f in REGISTRY.values()]
