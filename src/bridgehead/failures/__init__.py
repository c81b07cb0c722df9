"""The one registry of failure codes.

Every failure bridgehead can name — at its own edge, upstream, in a log it reads or in
an error text an admin pastes — has one entry here: a stable ``code`` (a short slug that
appears in error pages, access logs, ``explain``, ``probe``, ``lint`` and the lab), a
title, the cause, the fix, references, and what TMG, Windows and Exchange call the same
thing. ``signatures`` (case-insensitive regular expressions) and ``numbers`` (Windows /
NTSTATUS / TMG numbers) let ``explain`` recognise the failure in foreign text.

Entries live in one module per area (``forward``, ``ntlm``, ``oauth``, ...; ``tls_alerts``
for the TLS alert family, ``families`` for failures met in other software's wording, ``logs`` for
those met in the logs ``logs scan`` reads); the
signatures in ``wording`` (how other software says the same thing) are appended to the
entries they name. This module collects them into :data:`REGISTRY` and refuses duplicates at import time. :class:`Code`
(``failures/codes.py``, generated from the registry by ``python -m
bridgehead.failures.gencodes``) names every code for code that raises one.
"""

from __future__ import annotations

import dataclasses

from bridgehead.failures import families, forward, general, kerberos, logs, ntlm, oauth, reverse, tls_alerts, wording
from bridgehead.failures.codes import Code
from bridgehead.failures.model import Failure

__all__ = ["REGISTRY", "Code", "Failure", "by_number", "by_tls_alert", "by_tmg", "by_x509", "get", "platform_number"]


def _collect() -> dict[str, Failure]:
    table: dict[str, Failure] = {}
    for module in (forward, ntlm, oauth, kerberos, reverse, general, tls_alerts, families, logs):
        for entry in module.ENTRIES:
            if entry.code in table:
                raise ValueError(f"duplicate failure code {entry.code!r} in {module.__name__}")
            extra = wording.EXTRA.get(entry.code, ())
            table[entry.code] = dataclasses.replace(entry, signatures=entry.signatures + extra) if extra else entry
    unknown = set(wording.EXTRA) - set(table)
    if unknown:
        raise ValueError(f"wording.EXTRA names unknown codes {sorted(unknown)}")
    return table


REGISTRY: dict[str, Failure] = _collect()


def get(code: str) -> Failure:
    """The entry for ``code``; ``KeyError`` names the unknown code."""
    try:
        return REGISTRY[code]
    except KeyError:
        raise KeyError(f"unknown failure code {code!r}") from None


def _index(key: str) -> dict[int, tuple[Failure, ...]]:
    table: dict[int, list[Failure]] = {}
    for entry in REGISTRY.values():
        value = getattr(entry, key)
        values = value if isinstance(value, tuple) else (() if value is None else (value,))
        for number in values:
            table.setdefault(number, []).append(entry)
    return {n: tuple(entries) for n, entries in table.items()}


_BY_NUMBER = _index("numbers")
_BY_TMG = _index("tmg")
_BY_X509 = _index("x509_errors")
_BY_ALERT = _index("tls_alerts")


def by_tmg(status: int) -> list[Failure]:
    """Entries whose TMG/ISA status equals ``status`` (e.g. 12229)."""
    return list(_BY_TMG.get(status, ()))


def by_number(value: int) -> list[Failure]:
    """Entries that carry the Windows/NTSTATUS/TMG/Exchange number ``value`` (any sign, 32-bit)."""
    return list(_BY_NUMBER.get(value & 0xFFFFFFFF, ()))


def by_x509(verify_code: int) -> list[Failure]:
    """Entries for the OpenSSL ``X509_V_ERR_*`` value ``verify_code`` (e.g. 10 = certificate expired)."""
    return list(_BY_X509.get(verify_code, ()))


def by_tls_alert(alert: int) -> list[Failure]:
    """Entries for the TLS alert description ``alert`` (e.g. 48 = unknown_ca)."""
    return list(_BY_ALERT.get(alert, ()))


def platform_number(code: str, field: str) -> int:
    """The first platform number ``field`` (``ntstatus``, ``hresult``, ``iis_win32``, ``tmg`` …) of
    ``code``; ``KeyError`` when the entry has none (a table that needs it must not guess)."""
    value = getattr(get(code), field)
    if isinstance(value, tuple):
        value = value[0] if value else None
    if not isinstance(value, int):
        raise KeyError(f"failure {code!r} has no {field}")
    return value
