"""The console over real HTTP (requests): sign-in, an apply round trip, refused cross-site POSTs."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import requests

from tests.support.procs import free_port, running, wait_port

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")


def test_sign_in_apply_and_csrf(tmp_path: Path) -> None:
    fwd, admin = free_port(), free_port()
    conf = tmp_path / "gateway.toml"
    conf.write_text(f'[forward]\nlisten = "127.0.0.1:{fwd}"\n[admin]\nlisten = "127.0.0.1:{admin}"\n')
    base = f"http://127.0.0.1:{admin}"
    with running([BRIDGEHEAD, "serve", "--config", str(conf)], port=admin, log=tmp_path / "serve.log",
                 cwd=tmp_path):
        wait_port(fwd)
        password_file = tmp_path / "state" / "admin-password"
        deadline = time.monotonic() + 10
        while not password_file.exists():  # written when serve prints how to sign in
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert password_file.stat().st_mode & 0o077 == 0
        anonymous = requests.get(f"{base}/config", allow_redirects=False, timeout=5)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
        s = requests.Session()
        bad = s.post(f"{base}/login", data={"user": "admin", "password": "nope"}, timeout=10)
        assert "Wrong user name or password" in bad.text and "bh_session" not in s.cookies
        ok = s.post(f"{base}/login", data={"user": "admin", "password": password_file.read_text().strip()},
                    allow_redirects=False, timeout=10)
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        page = s.get(f"{base}/config", timeout=5).text
        csrf = re.search(r"name=csrf value=([\w-]+)", page).group(1)  # type: ignore[union-attr]
        text = conf.read_text() + '\n'
        new = text.replace("[forward]\n", '[forward]\nexception_destination = ["console.example"]\n')
        forged = s.post(f"{base}/config", data={"csrf": csrf, "source": new},
                        headers={"Origin": "http://evil.example"}, timeout=10)
        assert forged.status_code == 403 and forged.headers["X-Bridgehead-Code"] == "admin-cross-site-refused"
        no_token = s.post(f"{base}/config", data={"source": new}, timeout=10)
        assert no_token.status_code == 403
        refused = s.post(f"{base}/config", data={"csrf": csrf, "source": "[forward]\ndefault = 'x'\n"}, timeout=10)
        assert "Refused:" in refused.text
        applied = s.post(f"{base}/config", data={"csrf": csrf, "source": new}, timeout=10)
        assert "Applied as version 2" in applied.text
        deadline = time.monotonic() + 5
        while requests.get(f"{base}/healthz", timeout=5).json()["applied_version"] != 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        members = s.get(f"{base}/members", timeout=5).text
        assert "Synced — Server configuration matches the stored configuration" in members
        for path in ("/", "/bypass", "/log?code=x", "/explain?q=0x80090346"):
            assert s.get(f"{base}{path}", timeout=5).status_code == 200
        assert "SEC_E_BAD_BINDINGS" in s.get(f"{base}/explain?q=0x80090346", timeout=5).text or \
            "channel binding" in s.get(f"{base}/explain?q=0x80090346", timeout=5).text.lower()
