"""Revocation cache for a listener: CRLs (files or URLs) and OCSP, each answer used at most
``max_age`` seconds (see :mod:`bridgehead.core.reverse.revocation` for the decisions).

Fetching runs in a thread (file read or ``urllib``), one fetch per source at a time; every
request re-checks its connection's certificate, so a long-lived keep-alive connection is
cut within ``max_age`` of the revocation too. Unreachable or stale sources make the answer
``unknown``, and the listener's ``fail`` mode decides (fail-open is logged).

Shared between the members of an array (``bridgehead serve``: :class:`SharedRevocation` on the
configuration store): a CRL one member fetched is published (DER, when it was fetched, its
thisUpdate/nextUpdate) and every member looks at the store before fetching and, while its own
copy is fresh, at most every ``SHARED_LOOK`` seconds. A member adopts a list from the store when
it is newer (thisUpdate, then CRL Number, RFC 5280 §5.2.3) or the same list fetched later, after
checking its signature and nextUpdate against its own ``client_ca`` as for a fetched one; an
older list never replaces a newer one, in the store or in memory. So a certificate that one
member saw revoked in a fresh CRL is refused by every member within ``SHARED_LOOK`` seconds, and
the array fetches each CRL about once per ``max_age``. OCSP answers are shared the same way,
per responder and serial number (namespace ``revocation-ocsp``; newer = later thisUpdate; each
taken from the store is checked again — signer, CertID, times — before it is used). A store
that does not answer changes nothing: the member fetches and decides on its own.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import logging
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from bridgehead.core.reverse import revocation as rv
from bridgehead.core.reverse.model import RevocationSettings

if TYPE_CHECKING:
    from bridgehead.runtime.store import Store

log = logging.getLogger("bridgehead.reverse.revocation")

SHARED_LOOK = 1.0  # seconds between looks at the store for a newer CRL while the own copy is fresh
NAMESPACE = "revocation-crl"
OCSP_NAMESPACE = "revocation-ocsp"


@dataclass
class _Cached:
    fetched_at: float  # monotonic
    crl: x509.CertificateRevocationList | None = None
    ocsp: rv.OcspAnswer | None = None
    error: str | None = None
    fetched_wall: float = 0.0  # epoch seconds (compared across members)
    raw: bytes = b""  # an OCSP response as received (shared with the other members)
    this_update: float = 0.0  # an OCSP response's thisUpdate (epoch seconds)


def _order(crl: x509.CertificateRevocationList) -> tuple[dt.datetime, int]:
    """Which of two lists from one issuer is newer: thisUpdate, then the CRL Number (RFC 5280 §5.2.3)."""
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = -1
    return crl.last_update_utc, number


class SharedRevocation:
    """The CRLs the members of an array fetched, in the store (namespace ``revocation-crl``, one record per
    source): ``{"source", "der", "fetched_at", "this_update", "next_update", "issuer"}``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def key(where: str) -> str:
        return where if len(where) <= 400 else "sha256:" + hashlib.sha256(where.encode()).hexdigest()

    def get(self, where: str) -> dict[str, Any] | None:
        record = self.store.get(NAMESPACE, self.key(where))
        return record.value if record is not None else None

    def put(self, where: str, crl: x509.CertificateRevocationList, fetched_wall: float) -> None:
        from cryptography.hazmat.primitives.serialization import Encoding

        self.store.put(NAMESPACE, self.key(where), {
            "source": where, "der": base64.b64encode(crl.public_bytes(Encoding.DER)).decode(),
            "fetched_at": fetched_wall, "this_update": crl.last_update_utc.timestamp(),
            "next_update": crl.next_update_utc.timestamp() if crl.next_update_utc else None,
            "issuer": crl.issuer.rfc4514_string()})

    def all(self) -> list[dict[str, Any]]:
        return [r.value for r in self.store.list(NAMESPACE)]

    @staticmethod
    def ocsp_key(url: str, serial: int) -> str:
        return f"{hashlib.sha256(url.encode()).hexdigest()[:32]}:{serial:x}"

    def get_ocsp(self, url: str, serial: int) -> dict[str, Any] | None:
        record = self.store.get(OCSP_NAMESPACE, self.ocsp_key(url, serial))
        return record.value if record is not None else None

    def put_ocsp(self, url: str, serial: int, raw: bytes, fetched_wall: float, this_update: float,
                 next_update: dt.datetime | None) -> None:
        # kept until the answer's nextUpdate (at most a day without one): the store does not fill up with old answers
        ttl = max(60.0, next_update.timestamp() - time.time()) if next_update is not None else 86400.0
        self.store.put(OCSP_NAMESPACE, self.ocsp_key(url, serial), {
            "responder": url, "serial": f"{serial:x}", "der": base64.b64encode(raw).decode(),
            "fetched_at": fetched_wall, "this_update": this_update}, ttl=ttl)


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
        self.shared: SharedRevocation | None = None  # set by serve: the array's CRLs in the store
        self.adopted = 0  # lists taken from the store instead of fetched
        self._looked: dict[str, float] = {}

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
        return self._decide(cert, results)

    def check_now(self, cert: x509.Certificate) -> tuple[str | None, str, bool] | None:
        """What :meth:`check` answers when that needs no wait: CRLs only, each fresh in this member's
        cache and not due for a look at the store; ``None`` otherwise (then :meth:`check` it is)."""
        if not self.settings.enabled:
            return None, "", False
        if self.settings.ocsp is not None:
            return None
        results: list[rv.SourceResult] = []
        now = time.monotonic()
        for where in self.settings.crl:
            cached = self._crls.get(where)
            if cached is None or not self._usable(cached) or \
                    (self.shared is not None and now >= self._looked.get(where, 0.0)):
                return None
            result = self._crl_verdict(where, cached, cert)
            if result is not None:
                results.append(result)
        return self._decide(cert, results)

    def _decide(self, cert: x509.Certificate, results: list[rv.SourceResult]) -> tuple[str | None, str, bool]:
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
        async with self._lock(where):
            cached = self._crls.get(where)
            usable = self._usable(cached)
            if self.shared is not None and (not usable or time.monotonic() >= self._looked.get(where, 0.0)):
                self._looked[where] = time.monotonic() + SHARED_LOOK
                adopted = await asyncio.to_thread(self._from_shared, where, cached)
                if adopted is not None:
                    self.adopted += 1
                    cached = self._crls[where] = adopted
                    usable = self._usable(cached)
            if not usable:
                cached = self._crls[where] = await asyncio.to_thread(self._load_crl, where)
                if self.shared is not None and cached.crl is not None:
                    newer = await asyncio.to_thread(self._publish, where, cached)
                    if newer is not None:
                        cached = self._crls[where] = newer
        assert cached is not None  # loaded above unless fresh (and a fresh entry exists)
        return self._crl_verdict(where, cached, cert)

    @staticmethod
    def _crl_verdict(where: str, cached: _Cached, cert: x509.Certificate) -> rv.SourceResult | None:
        """What one cached CRL says about ``cert`` (``None``: another CA's list)."""
        label = f"crl:{where}"
        if cached.error is not None:
            return rv.SourceResult(label, rv.UNKNOWN, cached.error)
        assert cached.crl is not None
        if cached.crl.issuer != cert.issuer:
            return None  # another CA's list
        status, detail = rv.crl_status(cached.crl, cert)
        return rv.SourceResult(label, status, detail)

    def _usable(self, cached: _Cached | None) -> bool:
        return cached is not None and cached.error is None and \
            self._fresh(cached, cached.crl.next_update_utc if cached.crl else None)

    def _checked(self, data: bytes) -> x509.CertificateRevocationList:
        """A CRL signed by a CA of ``client_ca`` and not past its nextUpdate (RFC 5280 §6.3.3), else an error."""
        crl = rv.load_crl(data)
        issuer = next((c for c in self.trust if c.subject == crl.issuer), None)
        if issuer is None:
            raise rv.RevocationDataError(f"CRL issuer {crl.issuer.rfc4514_string()} is not in client_ca")
        rv.check_crl(crl, issuer, dt.datetime.now(dt.UTC))
        return crl

    def _load_crl(self, where: str) -> _Cached:
        self.fetches += 1
        now, wall = time.monotonic(), time.time()
        try:
            return _Cached(now, crl=self._checked(_fetch_bytes(where, self.settings.timeout)), fetched_wall=wall)
        except (OSError, ValueError) as exc:
            return _Cached(now, error=f"{type(exc).__name__}: {exc}", fetched_wall=wall)

    def _from_shared(self, where: str, cached: _Cached | None) -> _Cached | None:
        """The store's list for ``where`` if it is newer than ``cached`` (or the same list fetched later)."""
        assert self.shared is not None
        try:
            entry = self.shared.get(where)
            if entry is None:
                return None
            crl = self._checked(base64.b64decode(str(entry["der"])))
            fetched_wall = float(entry["fetched_at"])
        except Exception as exc:  # store unreachable or a list that does not check out: decide alone
            log.debug("shared CRL %s not used: %s", where, exc)
            return None
        if cached is not None and cached.crl is not None:
            mine, theirs = _order(cached.crl), _order(crl)
            if theirs < mine or (theirs == mine and fetched_wall <= cached.fetched_wall):
                return None
        age = max(0.0, time.time() - fetched_wall)
        return _Cached(time.monotonic() - age, crl=crl, fetched_wall=fetched_wall)

    def _publish(self, where: str, cached: _Cached) -> _Cached | None:
        """Put a fetched list in the store unless the store holds a newer one, which is returned instead."""
        assert self.shared is not None and cached.crl is not None
        newer = self._from_shared(where, None)
        if newer is not None and newer.crl is not None and _order(newer.crl) > _order(cached.crl):
            self.adopted += 1
            return newer
        try:
            self.shared.put(where, cached.crl, cached.fetched_wall)
        except Exception as exc:  # store unreachable: this member still uses what it fetched
            log.debug("shared CRL %s not published: %s", where, exc)
        return None

    async def _ocsp_result(self, cert: x509.Certificate, issuer: x509.Certificate | None) -> rv.SourceResult:
        url = self.settings.ocsp if self.settings.ocsp != "aia" else rv.responder_url(cert)
        label = f"ocsp:{url or 'aia'}"
        if issuer is None:
            return rv.SourceResult(label, rv.UNKNOWN, "issuer certificate not found")
        if not url:
            return rv.SourceResult(label, rv.UNKNOWN, "certificate names no OCSP responder (AIA)")
        key = (url, cert.serial_number)
        async with self._lock(key):
            cached = self._ocsp.get(key)
            usable = cached is not None and cached.error is None and \
                self._fresh(cached, cached.ocsp.next_update if cached.ocsp else None)
            look = f"ocsp:{url}:{cert.serial_number:x}"
            if self.shared is not None and (not usable or time.monotonic() >= self._looked.get(look, 0.0)):
                self._looked[look] = time.monotonic() + SHARED_LOOK
                adopted = await asyncio.to_thread(self._ocsp_from_shared, url, cert, issuer, cached)
                if adopted is not None:
                    self.adopted += 1
                    cached = self._ocsp[key] = adopted
                    usable = self._fresh(cached, cached.ocsp.next_update if cached.ocsp else None)
            if not usable or cached is None:
                cached = self._ocsp[key] = await asyncio.to_thread(self._ask_ocsp, url, cert, issuer)
                if self.shared is not None and cached.ocsp is not None:
                    await asyncio.to_thread(self._publish_ocsp, url, cert.serial_number, cached)
        if cached.error is not None or cached.ocsp is None:
            return rv.SourceResult(label, rv.UNKNOWN, cached.error or "no answer")
        return rv.SourceResult(label, cached.ocsp.status, cached.ocsp.detail)

    def _ask_ocsp(self, url: str, cert: x509.Certificate, issuer: x509.Certificate) -> _Cached:
        self.fetches += 1
        now, wall = time.monotonic(), time.time()
        try:
            data = _fetch_bytes(url, self.settings.timeout, rv.ocsp_request(cert, issuer))
            answer = rv.parse_ocsp(data, cert, issuer, dt.datetime.now(dt.UTC))
            return _Cached(now, ocsp=answer, fetched_wall=wall, raw=data, this_update=_ocsp_this_update(data))
        except (OSError, ValueError) as exc:
            return _Cached(now, error=f"{type(exc).__name__}: {exc}", fetched_wall=wall)

    def _ocsp_from_shared(self, url: str, cert: x509.Certificate, issuer: x509.Certificate,
                          cached: _Cached | None) -> _Cached | None:
        """The store's answer for this certificate if it is newer than ``cached`` (checked like a fetched one)."""
        assert self.shared is not None
        try:
            entry = self.shared.get_ocsp(url, cert.serial_number)
            if entry is None:
                return None
            raw = base64.b64decode(str(entry["der"]))
            answer = rv.parse_ocsp(raw, cert, issuer, dt.datetime.now(dt.UTC))
            fetched_wall, this_update = float(entry["fetched_at"]), _ocsp_this_update(raw)
        except Exception as exc:  # store unreachable or an answer that does not check out: ask alone
            log.debug("shared OCSP answer for %x not used: %s", cert.serial_number, exc)
            return None
        if cached is not None and cached.ocsp is not None and (
                this_update < cached.this_update or
                (this_update == cached.this_update and fetched_wall <= cached.fetched_wall)):
            return None
        age = max(0.0, time.time() - fetched_wall)
        return _Cached(time.monotonic() - age, ocsp=answer, fetched_wall=fetched_wall, raw=raw,
                       this_update=this_update)

    def _publish_ocsp(self, url: str, serial: int, cached: _Cached) -> None:
        assert self.shared is not None and cached.ocsp is not None
        try:
            entry = self.shared.get_ocsp(url, serial)
            if entry is not None and float(entry.get("this_update", 0.0)) > cached.this_update:
                return  # another member has a newer answer; this member takes it at its next look
            self.shared.put_ocsp(url, serial, cached.raw, cached.fetched_wall, cached.this_update,
                                 cached.ocsp.next_update)
        except Exception as exc:  # store unreachable: this member still uses what it got
            log.debug("shared OCSP answer for %x not published: %s", serial, exc)


def _ocsp_this_update(raw: bytes) -> float:
    from cryptography.x509 import ocsp

    return ocsp.load_der_ocsp_response(raw).this_update_utc.timestamp()


