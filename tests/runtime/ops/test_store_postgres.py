"""The store and the configuration store against a real PostgreSQL (a throwaway cluster)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bridgehead.runtime.ops.config_store import ConfigStore, Doorbell
from bridgehead.runtime.store import Store
from tests.support.postgres import Cluster, pg_cluster


@pytest.fixture(scope="module")
def pg() -> Iterator[Cluster]:
    with pg_cluster() as cluster:
        yield cluster


def test_records_on_postgresql_expiry_upsert_and_concurrent_writers(pg: Cluster) -> None:
    store = Store(pg.url)
    assert store.is_postgres and store.ping()
    store.put("bypass", "a:443", {"reason": "x"}, ttl=0.3)
    store.put("bypass", "a:443", {"reason": "y"}, ttl=0.3)  # upsert, not a duplicate key
    assert store.get("bypass", "a:443").value == {"reason": "y"}  # type: ignore[union-attr]
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        other = Store(pg.url)  # a second member: its own engine and connections
        try:
            for i in range(30):
                other.put("shared", f"k{i % 5}", {"writer": n, "i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [r.key for r in store.list("shared")] == [f"k{i}" for i in range(5)]
    time.sleep(0.4)
    assert store.get("bypass", "a:443") is None
    assert store.purge_expired() >= 1


def test_versions_numbered_with_diff_and_doorbell(pg: Cluster) -> None:
    cs = ConfigStore.open(pg.url)
    rung = threading.Event()
    bell = Doorbell(pg.url, rung.set)
    bell.start()
    try:
        deadline = time.monotonic() + 10
        while not bell.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bell.connected
        first = cs.add('[forward]\nlisten = "127.0.0.1:1"\n', "/etc/bridgehead", "alice")
        assert rung.wait(2.0)
        second = cs.add('[forward]\nlisten = "127.0.0.1:2"\n[admin]\npassword_hash = "s3cr3t"\n', "/etc", "bob")
        assert second.number == first.number + 1
        assert '-listen = "127.0.0.1:1"' in second.diff and '+listen = "127.0.0.1:2"' in second.diff
        assert "s3cr3t" not in second.diff
        assert [v.number for v in cs.history()][:2] == [second.number, first.number]
        cs.report("m1", applied=second.number)
        cs.report("m2", failed=second.number, error="bad file")
        reports = {r.name: r for r in cs.members()}
        assert reports["m1"].applied_version == second.number and reports["m2"].error == "bad file"
    finally:
        bell.stop()


def test_store_survives_a_database_restart(pg: Cluster) -> None:
    store = Store(pg.url)
    store.put("x", "before", {"v": 1})
    pg.stop()
    assert not store.ping()
    with pytest.raises(Exception):  # noqa: B017 - any driver error while the database is down
        store.put("x", "during", {"v": 2})
    pg.start()
    store.put("x", "after", {"v": 3})  # pool_pre_ping: the stale connection is replaced
    assert [r.key for r in store.list("x")] == ["after", "before"]
