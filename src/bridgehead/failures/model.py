"""The shape of one registry entry (plain data, no behaviour beyond rendering)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Failure:
    """One failure that bridgehead can name.

    ``status`` is the HTTP status a proxy answers with when it raises this failure itself
    (a hint; diagnostics-only entries keep the default).
    """

    code: str
    title: str
    cause: str
    fix: str
    area: str
    references: tuple[str, ...] = ()
    tmg: int | None = None
    windows: tuple[str, ...] = ()
    exchange: tuple[str, ...] = ()
    status: int = 502
    signatures: tuple[str, ...] = ()
    numbers: tuple[int, ...] = field(default=())
    # Exchange x-ms-diagnostics error_category (e.g. "invalid_resource" for 2000003), where one applies
    category: str | None = None

    def equivalents(self) -> dict[str, list[str]]:
        """TMG / Windows / Exchange names of the same failure, for output."""
        tmg = [f"TMG {self.tmg}"] if self.tmg is not None else []
        return {"tmg": tmg, "windows": list(self.windows), "exchange": list(self.exchange)}

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "title": self.title,
            "cause": self.cause,
            "fix": self.fix,
            "area": self.area,
            "references": list(self.references),
            "equivalents": self.equivalents(),
            "status": self.status,
        }
