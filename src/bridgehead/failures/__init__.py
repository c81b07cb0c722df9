"""The one registry of failure codes.

Every failure bridgehead can name — at its own edge, upstream, in a log it reads or in
an error text an admin pastes — has one entry here: a stable ``code`` (a short slug that
appears in error pages, access logs, ``explain``, ``probe``, ``lint`` and the lab), a
title, the cause, the fix, references, and what TMG, Windows and Exchange call the same
thing. ``signatures`` (case-insensitive regular expressions) and ``numbers`` (Windows /
NTSTATUS / TMG numbers) let ``explain`` recognise the failure in foreign text.

Entries live in one module per area (``forward``, ``ntlm``, ``oauth``, ...); this module
collects them into :data:`REGISTRY` and refuses duplicates at import time.
"""

from __future__ import annotations

from bridgehead.failures import forward, general, kerberos, ntlm, oauth, reverse
from bridgehead.failures.model import Failure

__all__ = ["REGISTRY", "Failure", "by_number", "by_tmg", "get"]


def _collect() -> dict[str, Failure]:
    table: dict[str, Failure] = {}
    for module in (forward, ntlm, oauth, kerberos, reverse, general):
        for entry in module.ENTRIES:
            if entry.code in table:
                raise ValueError(f"duplicate failure code {entry.code!r} in {module.__name__}")
            table[entry.code] = entry
    return table


REGISTRY: dict[str, Failure] = _collect()


def get(code: str) -> Failure:
    """The entry for ``code``; ``KeyError`` names the unknown code."""
    try:
        return REGISTRY[code]
    except KeyError:
        raise KeyError(f"unknown failure code {code!r}") from None


def by_tmg(status: int) -> list[Failure]:
    """Entries whose TMG/ISA status equals ``status`` (e.g. 12229)."""
    return [f for f in REGISTRY.values() if f.tmg == status]


def by_number(value: int) -> list[Failure]:
    """Entries that carry the Windows/NTSTATUS number ``value`` (any sign, 32-bit)."""
    unsigned = value & 0xFFFFFFFF
    return [f for f in REGISTRY.values() if unsigned in f.numbers]
