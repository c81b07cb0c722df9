"""Failure entries of the general area (see bridgehead/failures/__init__.py)."""

from __future__ import annotations

from bridgehead.failures.model import Failure

ENTRIES: tuple[Failure, ...] = ()
