"""The ``kerberos`` delegator of reverse routes: identity → user → ``Authorization: Negotiate`` to the backend.

Per request: map the edge identity to a user principal (route ``user_mapping``), look up the per-user
credential cache; on a miss do S4U2Self + S4U2Proxy to the route's SPN (two KDC round trips), on a hit only
build a fresh AP-REQ from the cached service ticket (none). Every GSSAPI call runs in a small thread pool
(``run_in_executor``) bounded by ``kdc_timeout`` so the event loop never stalls on the KDC; concurrent misses
for one user share one exchange. Failures become :class:`DelegationError` with a registry code
(KDC down → krb-kdc-unreachable, 504; user unknown → krb-client-unknown, 403; …).

What the access log gets (:meth:`KerberosDelegator.log_fields`, per request via a context variable): the mapped
user, the rule, the SPN, whether a cached ticket was used, the code of a failure — never a ticket — and
``kcd_kdc_ms``, how long this request's ticket acquisition at the KDC took (S4U2Self + S4U2Proxy, success
or failure; absent on a cache hit). ``/metrics`` turns it into ``bridgehead_kdc_latency_seconds``.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bridgehead.core.kcd.cache import CredentialCache
from bridgehead.core.kcd.config import KerberosSettings
from bridgehead.core.kcd.diagnose import Diagnosis, classify
from bridgehead.core.kcd.mapping import UnmappedUser, map_user
from bridgehead.core.kcd.spn import render_spn, spn_principal
from bridgehead.core.reverse.model import Identity, Route
from bridgehead.runtime.kcd import gss
from bridgehead.runtime.reverse.delegation import DelegationError
from bridgehead.wire.http1 import RequestHead

log = logging.getLogger("bridgehead.kcd")
_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("bridgehead_kcd_fields",
                                                                               default=None)


@dataclass
class Counters:
    requests: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    s4u2self: int = 0  # TGS round trips for protocol transition
    s4u2proxy: int = 0  # TGS round trips for the backend ticket
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def kdc_round_trips(self) -> int:
        return self.s4u2self + self.s4u2proxy

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "cache_hits": self.cache_hits, "cache_misses": self.cache_misses,
                "s4u2self": self.s4u2self, "s4u2proxy": self.s4u2proxy, "kdc_round_trips": self.kdc_round_trips,
                "failures": dict(self.failures)}


@dataclass
class _Obtained:
    creds: Any  # gssapi.Credentials (impersonated; memory ccache with evidence + service ticket)
    token: bytes
    lifetime: int


class DelegationFailed(Exception):
    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.summary)
        self.diagnosis = diagnosis


class KerberosDelegator:
    def __init__(self, settings: KerberosSettings, *, workers: int = 4) -> None:
        gss.use_krb5_conf(settings.krb5_conf)
        self.settings = settings
        self.proxy = gss.ProxyCredentials(settings.principal, settings.keytab)
        self.cache: CredentialCache[Any] = CredentialCache(settings.cache)
        self.counters = Counters()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bridgehead-kcd")
        self._inflight: dict[tuple[str, str], asyncio.Future[_Obtained]] = {}

    def spn_for(self, route: Route) -> str:
        return spn_principal(render_spn(self.settings.spn_template, route.backend.host, route.backend.port),
                             self.settings.realm)

    def log_fields(self) -> dict[str, Any]:
        """Fields for the access-log record of the current request (set by :meth:`headers_for`)."""
        return dict(_fields.get() or {})

    async def headers_for(self, route: Route, identity: Identity, request: RequestHead) -> list[tuple[bytes, bytes]]:
        self.counters.requests += 1
        spn = self.spn_for(route)
        fields: dict[str, Any] = {"kcd_user": None, "kcd_spn": spn, "kcd_cached": None}
        _fields.set(fields)
        try:
            mapped = map_user(self.settings.rules, identity, self.settings.realm)
        except UnmappedUser as exc:
            self._failed(fields, "kcd-user-unmapped")
            raise DelegationError("kcd-user-unmapped", str(exc)) from None
        fields.update(kcd_user=mapped.principal, kcd_rule=mapped.rule)
        try:
            token, cached = await self.token_for(mapped.principal, spn)
        except DelegationFailed as exc:
            d = exc.diagnosis
            self._failed(fields, d.code)
            log.warning("kcd %s -> %s failed at %s: %s [%s]", mapped.principal, spn, d.stage, d.summary, d.code)
            raise DelegationError(d.code, f"{d.summary} ({d.stage}: {d.detail})") from None
        fields["kcd_cached"] = cached
        return [(b"Authorization", b"Negotiate " + base64.b64encode(token))]

    def _failed(self, fields: dict[str, Any], code: str) -> None:
        fields["kcd_code"] = code
        self.counters.failures[code] = self.counters.failures.get(code, 0) + 1

    async def token_for(self, user: str, spn: str) -> tuple[bytes, bool]:
        """A fresh SPNEGO token for ``user`` to ``spn`` and whether a cached credential made it."""
        cached = self.cache.get(user, spn, time.time())
        if cached is not None:
            try:
                token = await self._run(gss.initiate, cached, spn, stage="s4u2proxy", user=user, spn=spn)
                self.counters.cache_hits += 1
                return token, True
            except DelegationFailed:
                self.cache.drop(user, spn)  # ticket gone stale under us: one fresh exchange
        self.counters.cache_misses += 1
        key = (user.lower(), spn.lower())
        pending = self._inflight.get(key) if self.cache.policy.enabled else None
        if pending is not None:  # another request for this user is already at the KDC (cache off: never shared)
            obtained = await asyncio.shield(pending)
            token = await self._run(gss.initiate, obtained.creds, spn, stage="s4u2proxy", user=user, spn=spn)
            return token, True
        if not self.cache.policy.enabled:
            obtained = await self._obtain(user, spn)
            return obtained.token, False
        future: asyncio.Future[_Obtained] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            obtained = await self._obtain(user, spn)
            future.set_result(obtained)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise, nobody else has to
            raise
        finally:
            del self._inflight[key]
        now = time.time()
        self.cache.put(user, spn, obtained.creds, now, now + obtained.lifetime)
        return obtained.token, False

    async def _obtain(self, user: str, spn: str) -> _Obtained:
        start = time.perf_counter()
        try:
            return await self._exchange(user, spn)
        finally:
            fields = _fields.get()
            if fields is not None:
                fields["kcd_kdc_ms"] = round((time.perf_counter() - start) * 1000.0, 3)

    async def _exchange(self, user: str, spn: str) -> _Obtained:
        await self._run(self.proxy.get, stage="acquire", user=user, spn=spn)
        imp = await self._run(self.proxy.impersonate, user, stage="s4u2self", user=user, spn=spn)
        self.counters.s4u2self += 1
        try:
            token = await self._run(gss.initiate, imp, spn, stage="s4u2proxy", user=user, spn=spn, imp=imp)
        finally:
            self.counters.s4u2proxy += 1
        life = await self._run(gss.lifetime, imp, stage="s4u2proxy", user=user, spn=spn)
        return _Obtained(imp, token, life)

    async def _run(self, fn: Any, *args: Any, stage: str, user: str, spn: str, imp: Any = None) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, fn, *args), self.settings.kdc_timeout)
        except TimeoutError:
            raise DelegationFailed(classify(f"no answer within {self.settings.kdc_timeout:g} s", "timeout",
                                            spn=spn, principal=self.settings.principal, user=user)) from None
        except gss.GSSError as exc:
            forwardable = None
            if imp is not None and "fulfill requested option" in str(exc):
                forwardable = await loop.run_in_executor(self._pool, gss.evidence_forwardable, imp,
                                                         self.settings.principal)
            if stage == "acquire":
                self.proxy.reset()
            raise DelegationFailed(classify(str(exc), stage, spn=spn, principal=self.settings.principal,
                                            user=user, evidence_forwardable=forwardable)) from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
