"""Rows of a lab table: a case, what the design says must happen, what was measured.

A row matches when every key of ``expected`` has the same value in ``measured`` (the measured
side may carry more detail, e.g. the backend's W3C log line). A row that was not run has
``measured = None`` and does not match. ``Scenario.as_dict`` is the ``--json`` contract:
``{"id", "title", "rows": [{"case", "expected", "measured", "match"}]}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    case: dict[str, Any]
    expected: dict[str, Any]
    measured: dict[str, Any] | None = None
    quick: bool = False  # part of the --quick subset

    @property
    def match(self) -> bool:
        if self.measured is None:
            return False
        return all(self.measured.get(k) == v for k, v in self.expected.items())

    def mismatches(self) -> list[str]:
        """``key: expected X, measured Y`` for each differing key."""
        if self.measured is None:
            return ["not measured"]
        return [f"{k}: expected {v!r}, measured {self.measured.get(k)!r}"
                for k, v in self.expected.items() if self.measured.get(k) != v]

    def codes(self) -> list[str]:
        """Registry codes this row names (expected and measured), for links to their explanation."""
        out: list[str] = []
        for side in (self.expected, self.measured or {}):
            code = side.get("code")
            if isinstance(code, str) and code not in out:
                out.append(code)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"case": self.case, "expected": self.expected, "measured": self.measured, "match": self.match}


@dataclass
class Scenario:
    id: str
    title: str
    seed: str
    case_keys: list[str]
    result_keys: list[str]
    rows: list[Row] = field(default_factory=list)
    error: str | None = None  # set when the topology could not be built (a missing component, ...)
    seconds: float | None = None  # how long measuring took

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.rows) and all(r.match for r in self.rows)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "title": self.title, "seed": self.seed,
                               "rows": [r.as_dict() for r in self.rows], "ok": self.ok}
        if self.seconds is not None:
            out["seconds"] = self.seconds
        if self.error is not None:
            out["error"] = self.error
        return out
