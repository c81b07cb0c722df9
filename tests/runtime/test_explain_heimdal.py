"""``bridgehead explain`` on what Heimdal's own tools print against a real Heimdal KDC.

A throwaway realm (tests/support/kdc.py) runs on 127.0.0.1; ``kinit`` with a wrong password, ``kinit``
for a principal the KDC does not know, ``kgetcred`` for an SPN nobody registered and ``kinit`` against a
realm whose KDC is not listening produce their real error lines, which go through the ``explain``
command (``--json``) and must name the Kerberos entry. The same texts are in the public corpus
(tests/core/explain_corpus.py, source ``heimdal``); here they come from the programs themselves, so a
Heimdal that words them differently fails this test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kdc import REALM, Realm

BRIDGEHEAD = [sys.executable, "-m", "bridgehead"]


@pytest.fixture(scope="module")
def realm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Realm]:
    r = Realm.create(tmp_path_factory.mktemp("heimdal") / "realm")
    r.start()
    try:
        yield r
    finally:
        r.stop()


def _stderr(argv: list[str], env: dict[str, str], stdin: str = "") -> str:
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode != 0, (argv, p.stdout, p.stderr)
    return p.stderr.strip()


def _explain(text: str) -> dict[str, object]:
    p = subprocess.run([*BRIDGEHEAD, "explain", "--json", text], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (text, p.stdout, p.stderr)
    out: dict[str, object] = json.loads(p.stdout)
    return out


def _top(text: str) -> str:
    matches = _explain(text)["matches"]
    assert isinstance(matches, list) and matches, text
    return str(matches[0]["code"])


def test_heimdal_tool_errors_are_named(realm: Realm, tmp_path: Path) -> None:
    env = {**os.environ, **realm.env(), "KRB5CCNAME": f"FILE:{tmp_path / 'cc'}"}
    kinit = ["kinit", "--password-file=STDIN"]

    wrong = _stderr([*kinit, f"alice@{REALM}"], env, "not-the-password\n")
    assert "incorrect" in wrong.lower(), wrong
    assert _top(wrong) == "krb-preauth-failed"

    unknown = _stderr([*kinit, f"nobody@{REALM}"], env, "x\n")
    assert "unknown" in unknown.lower(), unknown
    assert _top(unknown) == "krb-client-unknown"

    # a TGT, then a service ticket for an SPN that is not in the database
    ok = subprocess.run([*kinit, f"alice@{REALM}"], input=f"{Realm.USERS['alice']}\n", capture_output=True,
                        text=True, env=env, timeout=30)
    assert ok.returncode == 0, ok.stderr
    no_spn = _stderr(["kgetcred", f"HTTP/nothere.example.test@{REALM}"], env)
    assert "unknown" in no_spn.lower(), no_spn
    assert _top(no_spn) == "krb-principal-unknown"

    # a realm whose KDC is not listening: a port that was free a moment ago
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    conf = tmp_path / "dead-krb5.conf"
    conf.write_text(f"[libdefaults]\n default_realm = {REALM}\n kdc_timeout = 1\n max_retries = 1\n"
                    f"[realms]\n {REALM} = {{ kdc = tcp/127.0.0.1:{dead} }}\n", encoding="utf-8")
    unreachable = _stderr([*kinit, f"alice@{REALM}"], {**env, "KRB5_CONFIG": str(conf)}, "x\n")
    assert _top(unreachable) == "krb-kdc-unreachable", unreachable
