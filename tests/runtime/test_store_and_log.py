"""The store (expiry, namespaces) and the access log (no secrets)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bridgehead.runtime.accesslog import AccessLog, scrub_url
from bridgehead.runtime.store import Store


def test_store_put_get_list_expire(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    store.put("bypass", "a:443", {"reason": "x"}, ttl=0.2)
    store.put("bypass", "b:443", {"reason": "y"})
    store.put("other", "a:443", {"v": 1})
    assert [r.key for r in store.list("bypass")] == ["a:443", "b:443"]
    assert (tmp_path / "state" / "bridgehead.sqlite3").stat().st_mode & 0o077 == 0
    deadline = time.monotonic() + 5  # the entry expires 0.2 s after put: wait for that, bounded
    while store.get("bypass", "a:443") is not None:
        assert time.monotonic() < deadline, "an entry with ttl=0.2 s was still live after 5 s"
        time.sleep(0.02)
    assert [r.key for r in store.list("bypass")] == ["b:443"]
    assert store.purge_expired() == 1
    assert store.delete("bypass", "b:443") and not store.delete("bypass", "b:443")
    assert store.get("other", "a:443").value == {"v": 1}  # type: ignore[union-attr]


def test_access_log_fills_tmg_status_and_masks_credentials(tmp_path: Path) -> None:
    log = AccessLog(tmp_path / "access.log")
    log.write(client="127.0.0.1:1", action="deny", code="client-cert-under-inspection",
              url="https://h/x?access_token=SECRET&a=1")
    log.close()
    (record,) = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]
    assert record["tmg_status"] == 12229
    assert "SECRET" not in json.dumps(record)
    assert record["url"] == "https://h/x?access_token=***&a=1"
    assert scrub_url("/p?password=x") == "/p?password=***"
