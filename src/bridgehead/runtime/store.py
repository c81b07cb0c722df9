"""The configuration and state store: SQLite by default, PostgreSQL for a proxy array.

One table of namespaced JSON records (``namespace``, ``key``, ``value``, optional
``expires_at``) serves every area: learned bypass entries, Auth Certificates, the OAuth
trust store, applied configuration versions. SQLAlchemy Core keeps the SQL portable;
``url`` selects the back end (``sqlite:///…`` is derived from the state directory when
none is given, ``postgresql+psycopg://…`` for arrays).

PostgreSQL: ``put`` is one ``INSERT … ON CONFLICT DO UPDATE`` (members writing the same key at
once do not collide), ``create_all`` is serialised by an advisory lock (members starting
together), connections are checked before use (``pool_pre_ping``) so a restarted database is
reconnected transparently, and :meth:`Store.notify` sends a ``NOTIFY`` (the array's doorbell;
see ``runtime.config_store``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    delete,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

metadata = MetaData()

records = Table(
    "records",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
)


@dataclass(frozen=True)
class Record:
    namespace: str
    key: str
    value: dict[str, Any]
    expires_at: float | None
    updated_at: float


def shown_url(url: str) -> str:
    """A store URL as it may appear in a message: without its password (never a secret in output)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say nothing of it
        return "the given URL"


def redact(text: str, url: str | None) -> str:
    """``text`` (an error message) with every occurrence of ``url`` shown without its password."""
    return text.replace(url, shown_url(url)) if url else text


def prepare_state_dir(state_dir: Path) -> Path:
    """Create the state directory (0700) if needed and return it resolved."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(state_dir, 0o700)
    except PermissionError:
        pass
    return state_dir.resolve()


class Store:
    """Namespaced JSON records with optional expiry. Safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        args = {"connect_timeout": 3} if url.startswith("postgresql") else {}
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True, connect_args=args)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        create_tables(self.engine, metadata)

    def notify(self, channel: str, payload: str = "") -> None:
        """``NOTIFY channel, payload`` on PostgreSQL (delivered at commit); nothing elsewhere."""
        if self.is_postgres:
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # any driver error means: not reachable now
            return False

    @classmethod
    def open(cls, state_dir: Path, url: str | None = None) -> Store:
        if url is None:
            path = prepare_state_dir(state_dir) / "bridgehead.sqlite3"
            url = f"sqlite:///{path}"
            store = cls(url)
            os.chmod(path, 0o600)
            return store
        return cls(url)

    def put(self, namespace: str, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        now = time.time()
        expires = now + ttl if ttl is not None else None
        json.dumps(value)  # fail early on values that cannot be stored
        values = {"namespace": namespace, "key": key, "value": value, "expires_at": expires, "updated_at": now}
        with self.engine.begin() as conn:
            if self.engine.dialect.name in ("postgresql", "sqlite"):
                dialect = pg_dialect if self.is_postgres else sqlite_dialect
                stmt = dialect.insert(records).values(**values)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=[records.c.namespace, records.c.key],
                    set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at,
                          "updated_at": stmt.excluded.updated_at}))
            else:
                conn.execute(delete(records).where(and_(records.c.namespace == namespace, records.c.key == key)))
                conn.execute(records.insert().values(**values))

    def get(self, namespace: str, key: str) -> Record | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(records).where(
                    and_(records.c.namespace == namespace, records.c.key == key, _live(time.time()))
                )
            ).first()
        return _record(row) if row is not None else None

    def list(self, namespace: str) -> list[Record]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(records)
                .where(and_(records.c.namespace == namespace, _live(time.time())))
                .order_by(records.c.key)
            ).all()
        return [_record(r) for r in rows]

    def delete(self, namespace: str, key: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(records).where(and_(records.c.namespace == namespace, records.c.key == key))
            )
        return bool(result.rowcount)

    def purge_expired(self) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(records).where(and_(records.c.expires_at.is_not(None), records.c.expires_at <= time.time()))
            )
        return int(result.rowcount or 0)

    def __iter__(self) -> Iterator[Record]:  # pragma: no cover - convenience
        with self.engine.connect() as conn:
            for row in conn.execute(select(records)):
                yield _record(row)


def create_tables(engine: Engine, meta: MetaData) -> None:
    """``meta.create_all``; on PostgreSQL under an advisory lock, so members starting at once
    do not race on ``CREATE TABLE`` (a duplicate-type error otherwise)."""
    if engine.dialect.name != "postgresql":
        # SQLite has no advisory lock: worker processes starting on a fresh state directory race on
        # CREATE TABLE; the loser sees "already exists", and its second look (checkfirst) finds the table.
        for attempt in range(3):
            try:
                meta.create_all(engine)
                return
            except OperationalError as exc:
                if "already exists" not in str(exc) or attempt == 2:
                    raise
        return
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(7420190)"))
        meta.create_all(conn)


def _live(now: float) -> Any:
    return or_(records.c.expires_at.is_(None), records.c.expires_at > now)


def _record(row: Any) -> Record:
    return Record(row.namespace, row.key, dict(row.value), row.expires_at, row.updated_at)
