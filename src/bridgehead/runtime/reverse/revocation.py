"""Revocation cache for a listener: CRLs (files or URLs) and OCSP, each answer used at most
``max_age`` seconds (see :mod:`bridgehead.core.reverse.revocation` for the decisions).

Fetching runs in a thread (file read or ``urllib``), one fetch per source at a time; every
request re-checks its connection's certificate, so a long-lived keep-alive connection is
cut within ``max_age`` of the revocation too. Unreachable or stale sources make the answer
``unknown``, and the listener's ``fail`` mode decides (fail-open is logged).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from bridgehead.core.reverse import revocation as rv
from bridgehead.core.reverse.model import RevocationSettings

log = logging.getLogger("bridgehead.reverse.revocation")


@dataclass
class _Cached:
    fetched_at: float
    crl: x509.CertificateRevocationList | None = None
    ocsp: rv.OcspAnswer | None = None
    error: str | None = None


def _fetch_bytes(where: str, timeout: float, body: bytes | None = None) -> bytes:
    if where.startswith(("http://", "https://")):
        headers = {"Content-Type": "application/ocsp-request"} if body is not None else {}
        request = urllib.request.Request(where, data=body, headers=headers,  # noqa: S310 (http(s) only)
                                         method="POST" if body else "GET")
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (http(s) only, checked above)
            return bytes(resp.read(16 * 1024 * 1024))
    return Path(where).read_bytes()


class RevocationChecker:
    def __init__(self, settings: RevocationSettings, trust: list[x509.Certificate]) -> None:
        self.settings = settings
        self.trust = trust
        self._crls: dict[str, _Cached] = {}
        self._ocsp: dict[tuple[str, int], _Cached] = {}
        self._locks: dict[object, asyncio.Lock] = {}
        self.fetches = 0

    def issuer_of(self, cert: x509.Certificate, chain: list[x509.Certificate]) -> x509.Certificate | None:
        for candidate in [*chain, *self.trust]:
            if candidate.subject == cert.issuer and candidate is not cert:
                return candidate
        return None

    async def check(self, cert: x509.Certificate, chain: list[x509.Certificate]) -> tuple[str | None, str, bool]:
        """``(code or None, detail, failed_open)`` for ``cert``."""
        if not self.settings.enabled:
            return None, "", False
        issuer = self.issuer_of(cert, chain)
        results: list[rv.SourceResult] = []
        for where in self.settings.crl:
            result = await self._crl_result(where, cert)
            if result is not None:
                results.append(result)
        if self.settings.ocsp is not None:
            results.append(await self._ocsp_result(cert, issuer))
        if not results:
            results.append(rv.SourceResult("crl", rv.UNKNOWN, f"no CRL for issuer {cert.issuer.rfc4514_string()}"))
        code, detail, failed_open = rv.decide(results, self.settings.fail)
        if failed_open:
            log.warning("client certificate %x: %s", cert.serial_number, detail)
        return code, detail, failed_open

    def _lock(self, key: object) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _fresh(self, cached: _Cached | None, next_update: dt.datetime | None) -> bool:
        if cached is None:
            return False
        return rv.is_fresh(cached.fetched_at, time.monotonic(), self.settings.max_age, next_update,
                           dt.datetime.now(dt.UTC))

    async def _crl_result(self, where: str, cert: x509.Certificate) -> rv.SourceResult | None:
        label = f"crl:{where}"
        async with self._lock(where):
            cached = self._crls.get(where)
            if not self._fresh(cached, cached.crl.next_update_utc if cached and cached.crl else None) or \
                    (cached is not None and cached.error is not None):
                cached = self._crls[where] = await asyncio.to_thread(self._load_crl, where)
        assert cached is not None  # loaded above unless fresh (and a fresh entry exists)
        if cached.error is not None:
            return rv.SourceResult(label, rv.UNKNOWN, cached.error)
        assert cached.crl is not None
        if cached.crl.issuer != cert.issuer:
            return None  # another CA's list
        status, detail = rv.crl_status(cached.crl, cert)
        return rv.SourceResult(label, status, detail)

    def _load_crl(self, where: str) -> _Cached:
        self.fetches += 1
        now = time.monotonic()
        try:
            crl = rv.load_crl(_fetch_bytes(where, self.settings.timeout))
            issuer = next((c for c in self.trust if c.subject == crl.issuer), None)
            if issuer is None:
                raise rv.RevocationDataError(f"CRL issuer {crl.issuer.rfc4514_string()} is not in client_ca")
            rv.check_crl(crl, issuer, dt.datetime.now(dt.UTC))
            return _Cached(now, crl=crl)
        except (OSError, ValueError) as exc:
            return _Cached(now, error=f"{type(exc).__name__}: {exc}")

    async def _ocsp_result(self, cert: x509.Certificate, issuer: x509.Certificate | None) -> rv.SourceResult:
        url = self.settings.ocsp if self.settings.ocsp != "aia" else _aia_ocsp(cert)
        label = f"ocsp:{url or 'aia'}"
        if issuer is None:
            return rv.SourceResult(label, rv.UNKNOWN, "issuer certificate not found")
        if not url:
            return rv.SourceResult(label, rv.UNKNOWN, "certificate names no OCSP responder (AIA)")
        key = (url, cert.serial_number)
        async with self._lock(key):
            cached = self._ocsp.get(key)
            if cached is None or cached.error is not None or \
                    not self._fresh(cached, cached.ocsp.next_update if cached.ocsp else None):
                cached = self._ocsp[key] = await asyncio.to_thread(self._ask_ocsp, url, cert, issuer)
        if cached.error is not None or cached.ocsp is None:
            return rv.SourceResult(label, rv.UNKNOWN, cached.error or "no answer")
        return rv.SourceResult(label, cached.ocsp.status, cached.ocsp.detail)

    def _ask_ocsp(self, url: str, cert: x509.Certificate, issuer: x509.Certificate) -> _Cached:
        self.fetches += 1
        now = time.monotonic()
        try:
            data = _fetch_bytes(url, self.settings.timeout, rv.ocsp_request(cert, issuer))
            return _Cached(now, ocsp=rv.parse_ocsp(data, cert, issuer, dt.datetime.now(dt.UTC)))
        except (OSError, ValueError) as exc:
            return _Cached(now, error=f"{type(exc).__name__}: {exc}")


def _aia_ocsp(cert: x509.Certificate) -> str | None:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and \
                isinstance(desc.access_location, x509.UniformResourceIdentifier):
            return str(desc.access_location.value)
    return None
