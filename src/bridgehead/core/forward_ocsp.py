"""OCSP for the origin's certificate (the inspecting proxy's upstream leg): the decisions.

Pure: which policy applies to a destination, what one OCSP answer (or its absence) means, how
long an answer may be reused. The runtime (:mod:`bridgehead.runtime.forward.ocsp`) asks the
responder the leaf's Authority Information Access names (RFC 5280 §4.2.2.1, id-ad-ocsp) and
parses the answer with :func:`bridgehead.core.reverse.revocation.parse_ocsp` (RFC 6960 §4.2.2.2:
signer, CertID, thisUpdate/nextUpdate).

Policy, in the style of ``[[legacy_tls]]``::

    [forward]
    ocsp = "open"            # open | closed | off: the default for every destination
    ocsp_timeout = "3s"      # the longest wait for the responder
    [[ocsp]]
    destination = ["*.bank.example", "192.0.2.0/24:443"]
    fail = "closed"          # open | closed (| off): first matching table wins

* ``good`` → the connection goes on; ``revoked`` → refused with ``upstream-cert-revoked``
  (the same code as a CRL listing, the detail names OCSP);
* no usable answer (responder unreachable, timeout, an error status, a bad signature, ``unknown``)
  → ``fail = "closed"`` refuses with ``upstream-ocsp-unavailable``; ``fail = "open"`` lets the
  connection go on and the access record carries ``upstream-ocsp-soft-fail``.
* a leaf without an OCSP responder in its AIA is not checked (no answer to ask for), as browsers do.

The default is ``open``: Chrome does not hard-fail on an unreachable responder (it does not even
ask online by default) and Windows' CryptoAPI soft-fails (CERT_TRUST_REVOCATION_STATUS_UNKNOWN /
CRYPT_E_REVOCATION_OFFLINE is ignored by most callers); ``closed`` is for destinations where a
revoked certificate must never pass, accepting that a responder outage refuses them.

Reuse (RFC 6960 §4.2.2.1, RFC 5019 §4): an answer is used from its thisUpdate (less 5 minutes of
clock skew) until its nextUpdate; an answer without nextUpdate for :data:`NO_NEXT_UPDATE_TTL`
seconds after thisUpdate at most (RFC 6960: "newer information is always available").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from bridgehead.core.forward_policy import DestinationRule, PolicyError

OPEN, CLOSED, OFF = "open", "closed", "off"
MODES = (OPEN, CLOSED, OFF)
DEFAULT_MODE = OPEN
DEFAULT_TIMEOUT = 3.0
SKEW = dt.timedelta(minutes=5)
NO_NEXT_UPDATE_TTL = dt.timedelta(minutes=5)

GOOD, REVOKED, UNKNOWN = "good", "revoked", "unknown"


@dataclass(frozen=True)
class OcspRule:
    """One ``[[ocsp]]`` table."""

    name: str  # ocsp[N], for the log
    destinations: tuple[DestinationRule, ...]
    fail: str


@dataclass(frozen=True)
class OcspPolicy:
    default: str = DEFAULT_MODE
    rules: tuple[OcspRule, ...] = ()
    timeout: float = DEFAULT_TIMEOUT

    @property
    def enabled(self) -> bool:
        return self.default != OFF or any(r.fail != OFF for r in self.rules)

    def mode_for(self, host: str, port: int) -> tuple[str, str]:
        """``(mode, where it came from)`` for ``host:port``: the first matching ``[[ocsp]]``, else the default."""
        for rule in self.rules:
            if any(d.matches(host, port) for d in rule.destinations):
                return rule.fail, rule.name
        return self.default, "ocsp (default)"


def parse_policy(default: object, tables: object, timeout: float) -> OcspPolicy:
    """``[forward] ocsp`` + ``[[ocsp]]`` tables → :class:`OcspPolicy`; ``PolicyError`` names the bad key."""
    if default not in MODES:
        raise PolicyError(f"ocsp must be {' | '.join(MODES)}, not {default!r}")
    if not isinstance(tables, list) or not all(isinstance(t, Mapping) for t in tables):
        raise PolicyError("ocsp: the tables must be [[ocsp]] destination = [...], fail = \"closed\"")
    if not timeout > 0:
        raise PolicyError("ocsp_timeout must be more than 0s")
    rules = []
    for i, table in enumerate(tables, 1):
        key = f"ocsp[{i}]"
        unknown = set(table) - {"destination", "fail"}
        if unknown:
            raise PolicyError(f"{key}: unknown key(s) {', '.join(sorted(unknown))} (known: destination, fail)")
        dest = table.get("destination")
        specs = [dest] if isinstance(dest, str) else dest
        if not specs or not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise PolicyError(f"{key}: destination must be a host or a list of hosts")
        fail = table.get("fail")
        if fail not in MODES:
            raise PolicyError(f"{key}: fail must be open | closed | off, not {fail!r}")
        try:
            destinations = tuple(DestinationRule.parse(s) for s in specs)
        except PolicyError as exc:
            raise PolicyError(f"{key}: {exc}") from None
        rules.append(OcspRule(key, destinations, str(fail)))
    return OcspPolicy(str(default), tuple(rules), float(timeout))


@dataclass(frozen=True)
class OcspStatus:
    """One checked answer of a responder (signature, CertID and times already verified)."""

    status: str  # good | revoked | unknown
    detail: str
    this_update: dt.datetime
    next_update: dt.datetime | None


def usable(answer: OcspStatus, now: dt.datetime) -> bool:
    """Whether ``answer`` may still be used at ``now`` (cache hit), see the module."""
    if now < answer.this_update - SKEW:
        return False
    until = answer.next_update if answer.next_update is not None else answer.this_update + NO_NEXT_UPDATE_TTL
    return now <= until


@dataclass(frozen=True)
class OcspVerdict:
    """``refuse``: (code, detail) to refuse the connection with; ``note``: (code, detail) for the
    access record of a connection allowed with fail = open; both None: good."""

    refuse: tuple[str, str] | None = None
    note: tuple[str, str] | None = None


def verdict(mode: str, where: str, url: str, answer: OcspStatus | None, problem: str | None) -> OcspVerdict:
    """What an answer (or ``problem``, why there is none) means under ``mode`` (from ``where``)."""
    if answer is not None and answer.status == REVOKED:
        return OcspVerdict(refuse=("upstream-cert-revoked", f"OCSP responder {url}: {answer.detail}"))
    if answer is not None and answer.status == GOOD:
        return OcspVerdict()
    why = problem or (answer.detail if answer is not None else "no answer")
    if mode == CLOSED:
        return OcspVerdict(refuse=("upstream-ocsp-unavailable",
                                   f"OCSP responder {url}: {why}; refused because {where} says fail = closed"))
    return OcspVerdict(note=("upstream-ocsp-soft-fail",
                             f"OCSP responder {url}: {why}; allowed because {where} says fail = open"))
