"""The per-user credential cache policy: keep a user's delegated credentials until shortly before expiry.

One entry per (user, SPN) holds what the runtime got from S4U2Self + S4U2Proxy (a gssapi credential whose
memory ccache now holds the evidence ticket and the service ticket). A cached entry saves both KDC round trips:
each request still gets a fresh AP-REQ (new authenticator, RFC 4120 §3.2.3 — never a replayed header), built
locally from the cached service ticket.

An entry is used until ``expires_at - margin`` where ``margin = min(refresh_before, lifetime / 2)``: a busy user
never presents a ticket that expires in flight, and short ticket lifetimes still get cached. Least recently used
entries go first when ``max_entries`` is reached. Time is passed in (``now``), so the policy is testable without
a clock; the cache is used from one thread (the event loop).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class CachePolicy:
    refresh_before: float = 300.0  # seconds before expiry at which a new ticket is fetched
    max_entries: int = 10000
    enabled: bool = True

    def usable_until(self, obtained_at: float, expires_at: float) -> float:
        lifetime = max(0.0, expires_at - obtained_at)
        return expires_at - min(self.refresh_before, lifetime / 2)


@dataclass
class _Entry(Generic[T]):
    value: T
    usable_until: float
    expires_at: float


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    expired: int = 0
    evicted: int = 0


class CredentialCache(Generic[T]):
    def __init__(self, policy: CachePolicy | None = None) -> None:
        self.policy = policy or CachePolicy()
        self.stats = CacheStats()
        self._entries: OrderedDict[tuple[str, str], _Entry[T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user: str, spn: str, now: float) -> T | None:
        key = (user.lower(), spn.lower())
        entry = self._entries.get(key)
        if entry is not None and now >= entry.usable_until:
            del self._entries[key]
            self.stats.expired += 1
            entry = None
        if entry is None:
            self.stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return entry.value

    def put(self, user: str, spn: str, value: T, obtained_at: float, expires_at: float) -> bool:
        """Store unless caching is off or the credential is already too close to expiry."""
        if not self.policy.enabled or self.policy.max_entries <= 0:
            return False
        until = self.policy.usable_until(obtained_at, expires_at)
        if until <= obtained_at:
            return False
        key = (user.lower(), spn.lower())
        self._entries[key] = _Entry(value, until, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.policy.max_entries:
            self._entries.popitem(last=False)
            self.stats.evicted += 1
        return True

    def drop(self, user: str, spn: str) -> None:
        self._entries.pop((user.lower(), spn.lower()), None)

    def clear(self) -> None:
        self._entries.clear()
