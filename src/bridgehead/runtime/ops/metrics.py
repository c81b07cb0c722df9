"""Prometheus metrics of ``bridgehead serve`` and the access log that feeds them.

The data plane already writes one access-log record per request or tunnel, each with its
action, code and duration; :class:`MeteredAccessLog` is that log plus counters: every
record updates the metrics below and a bounded ring of recent records (the console's live
log). Values that live elsewhere (learned bypass entries in the store, the applied
version, whether the store answers) are read when Prometheus scrapes.

    bridgehead_requests_total{action,code}            requests and tunnels (code "" when none)
    bridgehead_handshake_failures_total{side,code}    side = upstream | edge
    bridgehead_client_cert_splices_total              ClientHello replayed to a server asking for a certificate
    bridgehead_kcd_ticket_cache_total{result}         hit | miss (routes with identity = "kerberos")
    bridgehead_kdc_latency_seconds{result}            histogram: ticket acquisition at the KDC on a cache miss
                                                      (S4U2Self + S4U2Proxy), result = ok | error
    bridgehead_revocation_cache_age_seconds{listener,source,issuer}
                                                      gauge: age of the CRL each listener's revocation cache
                                                      holds (the array's newest copy, from the store)
    bridgehead_request_duration_seconds{action}       histogram
    bridgehead_learned_bypass_entries                 gauge (store)
    bridgehead_config_applied_version / _latest_version, bridgehead_store_reachable
    bridgehead_worker_processes                       gauge: workers running (1 without --workers)

With ``serve --workers N`` the data plane runs in N worker processes: counters and histograms use
prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, one mmap file per process,
set by ``serve`` before anything imports prometheus_client) and the admin listener in the parent
sums them with ``MultiProcessCollector``; counts of a worker that ended stay in the sums. The
gauges are read from the parent when Prometheus scrapes (custom collectors), so they carry no
``pid`` label. Workers hand each access-log record to the parent (``relay``) for the console's
ring of recent records; the parent counts nothing twice (it only keeps them).
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from bridgehead.runtime.accesslog import AccessLog

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_KDC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Ages = Callable[[], list[tuple[str, str, str, float]]]  # (listener, source, issuer, seconds)
State = Callable[[], dict[str, float | None]]  # applied, latest, reachable, bypass


def multiprocess() -> bool:
    """Whether counters live in prometheus_client's multiprocess files (``serve --workers N``)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class _GatewayState:
    """A custom collector: the serving process's own gauges, read when Prometheus scrapes."""

    _GAUGES = (("applied", "bridgehead_config_applied_version", "Configuration version this member serves"),
               ("latest", "bridgehead_config_latest_version", "Newest configuration version in the store"),
               ("reachable", "bridgehead_store_reachable", "1 when the configuration store answered the last poll"),
               ("bypass", "bridgehead_learned_bypass_entries", "Learned bypass entries (store)"),
               ("workers", "bridgehead_worker_processes", "Processes serving the listeners (serve --workers)"))

    def __init__(self) -> None:
        self.source: State | None = None

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        values = self.source() if self.source is not None else {}
        out: list[Metric] = []
        for key, name, help_text in self._GAUGES:
            value = values.get(key)
            if value is not None:
                out.append(GaugeMetricFamily(name, help_text, value=value))
        return out


class _RevocationAges:
    """A custom collector: the revocation cache ages, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.source: Ages | None = None

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        family = GaugeMetricFamily("bridgehead_revocation_cache_age_seconds", "Age of the CRL a listener's "
                                   "revocation cache holds, per source", labels=["listener", "source", "issuer"])
        for listener, source, issuer, age in (self.source() if self.source is not None else []):
            family.add_metric([listener, source, issuer], age)
        return [family]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("bridgehead_requests", "Requests and tunnels by action and code",
                                ["action", "code"], registry=r)
        self.handshakes = Counter("bridgehead_handshake_failures", "TLS handshake failures by side and code",
                                  ["side", "code"], registry=r)
        self.splices = Counter("bridgehead_client_cert_splices", "Connections spliced because the server "
                               "asked for a client certificate", registry=r)
        self.kcd = Counter("bridgehead_kcd_ticket_cache", "KCD ticket cache lookups", ["result"], registry=r)
        self.kdc = Histogram("bridgehead_kdc_latency_seconds", "KCD ticket acquisition at the KDC (cache miss)",
                             ["result"], buckets=_KDC_BUCKETS, registry=r)
        self.revocation_ages = _RevocationAges()
        r.register(self.revocation_ages)
        self.duration = Histogram("bridgehead_request_duration_seconds", "Request or tunnel duration",
                                  ["action"], buckets=_BUCKETS, registry=r)
        self.state = _GatewayState()
        r.register(self.state)
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        self.relay: Callable[[dict[str, Any]], None] | None = None  # a worker: records go to the parent
        self._lock = threading.Lock()

    def observe(self, record: dict[str, Any]) -> None:
        action = str(record.get("action") or "")
        code = str(record.get("code") or "")
        self.requests.labels(action, code).inc()
        if code.startswith(("upstream-cert-", "upstream-tls-")):
            self.handshakes.labels("upstream", code).inc()
        elif code.startswith("edge-client-cert-") or code == "edge-revocation-unavailable":
            self.handshakes.labels("edge", code).inc()
        if action == "tunnel" and code == "client-cert-under-inspection":
            self.splices.inc()
        cached = record.get("kcd_cached")
        if cached is not None:
            self.kcd.labels("hit" if cached else "miss").inc()
        kdc_ms = record.get("kcd_kdc_ms")
        if isinstance(kdc_ms, int | float):
            self.kdc.labels("error" if record.get("kcd_code") else "ok").observe(float(kdc_ms) / 1000.0)
        duration = record.get("duration_ms")
        if isinstance(duration, int | float):
            self.duration.labels(action).observe(float(duration) / 1000.0)
        if self.relay is not None:
            self.relay(record)
        else:
            self.keep(record)

    def keep(self, record: dict[str, Any]) -> None:
        """Add a record to the console's ring (counted already, here or in a worker)."""
        with self._lock:
            self.recent.append(record)

    def render(self) -> bytes:
        if not multiprocess():
            return generate_latest(self.registry)
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # every process's counters, summed
        registry.register(self.state)
        registry.register(self.revocation_ages)
        return generate_latest(registry)


class MeteredAccessLog(AccessLog):
    """An :class:`AccessLog` whose records also update :class:`Metrics`."""

    def __init__(self, metrics: Metrics, path: Path | None = None, stream: IO[str] | None = None,
                 fixed: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(path, stream)
        self.metrics = metrics
        self.fixed = fixed or {}  # written into every record, e.g. {"worker": 1} under serve --workers
        self.extra = extra  # e.g. {"service": "forward"} for the console's filters

    def write(self, **fields: Any) -> dict[str, Any]:
        record = super().write(**{**fields, **self.fixed}) if self.fixed else super().write(**fields)
        self.metrics.observe({**record, **self.extra})
        return record
