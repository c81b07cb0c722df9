"""The versioned configuration store shared by the members of an array.

Two tables next to the store's ``records`` (same database, SQLite or PostgreSQL):

* ``config_versions`` — one row per ``config apply`` / ``rollback``: ``number`` (1, 2, …),
  ``author``, ``created_at``, the TOML ``source`` text, ``base_dir`` (relative paths in the
  file resolve against it on every member: the same layout under /etc/bridgehead), the
  ``diff`` against the previous version (secrets redacted) and a ``comment``.
* ``config_members`` — one row per member: what it applied and when, the version it failed
  to apply and why, and ``last_seen`` (a heartbeat written on every poll).

Members learn of a new version by polling :meth:`ConfigStore.latest_number` (every second,
so within the 2 s bound) and, on PostgreSQL, sooner: :meth:`ConfigStore.add` sends
``NOTIFY bridgehead_config`` and :class:`Doorbell` listens for it (``LISTEN``) on its own
connection, reconnecting when the database comes back (polling covers the gap).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bridgehead.core.ops.diff import config_diff
from bridgehead.core.ops.sync import MemberReport
from bridgehead.runtime.store import Store, create_tables, records

log = logging.getLogger("bridgehead.config")

CHANNEL = "bridgehead_config"

meta = MetaData()
versions = Table(
    "config_versions", meta,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("author", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("source", Text, nullable=False),
    Column("base_dir", String(1000), nullable=False),
    Column("diff", Text, nullable=False),
    Column("comment", String(500), nullable=False, default=""),
)
members = Table(
    "config_members", meta,
    Column("name", String(200), primary_key=True),
    Column("applied_version", Integer, nullable=True),
    Column("applied_at", Float, nullable=True),
    Column("failed_version", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("last_seen", Float, nullable=False),
)


@dataclass(frozen=True)
class Version:
    number: int
    author: str
    created_at: float
    source: str
    base_dir: str
    diff: str
    comment: str

    def as_dict(self, *, with_source: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"number": self.number, "author": self.author, "created_at": self.created_at,
                               "base_dir": self.base_dir, "comment": self.comment, "diff": self.diff}
        if with_source:
            out["source"] = self.source
        return out


class ConfigStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        create_tables(self.engine, meta)

    @classmethod
    def open(cls, url: str) -> ConfigStore:
        return cls(Store(url))

    # ---- versions ----------------------------------------------------------------------
    def latest_number(self) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(versions.c.number))).scalar()
        return int(value) if value is not None else None

    def get(self, number: int) -> Version | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(versions).where(versions.c.number == number)).first()
        return _version(row) if row is not None else None

    def latest(self) -> Version | None:
        number = self.latest_number()
        return self.get(number) if number is not None else None

    def history(self, limit: int = 50) -> list[Version]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(versions).order_by(versions.c.number.desc()).limit(limit)).all()
        return [_version(r) for r in rows]

    def add(self, source: str, base_dir: str, author: str, comment: str = "") -> Version:
        """Store ``source`` as the next version (numbers are unique even when two admins apply at once)."""
        for _attempt in range(20):
            previous = self.latest()
            number = (previous.number if previous else 0) + 1
            diff = config_diff(previous.source if previous else None, source,
                               f"version {previous.number}" if previous else "(none)", f"version {number}")
            row = {"number": number, "author": author, "created_at": time.time(), "source": source,
                   "base_dir": base_dir, "diff": diff, "comment": comment}
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(versions).values(**row))
            except IntegrityError:
                time.sleep(0.01)
                continue
            self.store.notify(CHANNEL, str(number))
            return Version(**row)  # type: ignore[arg-type]
        raise RuntimeError("could not allocate a configuration version number")

    # ---- members -----------------------------------------------------------------------
    def report(self, name: str, *, applied: int | None = None, failed: int | None = None,
               error: str | None = None) -> None:
        """Heartbeat, plus what was applied or what failed (``None`` leaves a field as it is)."""
        now = time.time()
        values: dict[str, Any] = {"last_seen": now}
        if applied is not None:
            values.update(applied_version=applied, applied_at=now, failed_version=None, error=None)
        if failed is not None:
            values.update(failed_version=failed, error=(error or "")[:2000])
        with self.engine.begin() as conn:
            done = conn.execute(update(members).where(members.c.name == name).values(**values)).rowcount
            if not done:
                with contextlib.suppress(IntegrityError), conn.begin_nested():
                    conn.execute(insert(members).values(name=name, **values))

    def members(self) -> list[MemberReport]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(members).order_by(members.c.name)).all()
        return [MemberReport(r.name, r.applied_version, r.applied_at, r.failed_version, r.error, r.last_seen)
                for r in rows]

    def forget(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(members.delete().where(members.c.name == name)).rowcount)


def insert_if_absent(store: Store, namespace: str, key: str, value: dict[str, Any]) -> bool:
    """Write a record only if none exists (``INSERT … ON CONFLICT DO NOTHING``): the first of several
    members starting at once wins, the others read the winner's record. ``True`` if this call wrote it."""
    from sqlalchemy.dialects import postgresql as pg_dialect
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    dialect = pg_dialect if store.is_postgres else sqlite_dialect
    stmt = dialect.insert(records).values(namespace=namespace, key=key, value=value, expires_at=None,
                                          updated_at=time.time())
    stmt = stmt.on_conflict_do_nothing(index_elements=[records.c.namespace, records.c.key]).returning(records.c.key)
    with store.engine.begin() as conn:
        return conn.execute(stmt).first() is not None  # RETURNING: a row only when this INSERT wrote it


def _version(row: Any) -> Version:
    return Version(int(row.number), row.author, float(row.created_at), row.source, row.base_dir, row.diff,
                   row.comment or "")


class Doorbell:
    """``LISTEN bridgehead_config`` on PostgreSQL in a thread; ``ring`` is called per NOTIFY.

    Connection lost → wait a second and reconnect (the poller covers what was missed)."""

    def __init__(self, url: str, ring: Callable[[], None]) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.ring = ring
        self._stop = threading.Event()
        self.connected = False
        self._thread = threading.Thread(target=self._run, name="bridgehead-doorbell", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected = True
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.ring()
                        conn.execute("SELECT 1")  # notices a dead server within a second
            except Exception as exc:  # the database went away: poll until it is back
                log.debug("doorbell: %s", exc)
            self.connected = False
            self._stop.wait(1.0)
