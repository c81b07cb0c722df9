"""Connection limits for the listeners: in total and per client address.

A slow client can hold a connection until its deadlines pass (``streams.Deadlines``); the
limits bound how many it can hold meanwhile, so that a slowloris from one address cannot
starve everybody else. ``admit`` is called once per accepted connection and ``release``
when it ends; a refused connection is answered (where the protocol allows) and closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ConnectionLimits:
    total: int = 4096
    per_source: int = 256
    open: int = 0
    by_source: dict[str, int] = field(default_factory=dict)

    def admit(self, source: str) -> str | None:
        """``None`` when the connection may proceed (and is counted), else why it may not."""
        if self.total and self.open >= self.total:
            return f"{self.open} connections open, the limit is {self.total} (max_connections)"
        count = self.by_source.get(source, 0)
        if self.per_source and count >= self.per_source:
            return f"{count} connections open from {source}, the limit is {self.per_source} " \
                   "(max_connections_per_source)"
        self.open += 1
        self.by_source[source] = count + 1
        return None

    def release(self, source: str) -> None:
        self.open -= 1
        left = self.by_source.get(source, 1) - 1
        if left > 0:
            self.by_source[source] = left
        else:
            self.by_source.pop(source, None)
