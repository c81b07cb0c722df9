"""authcert / oauth / decode commands via subprocess: exit codes, --json shapes, one-line errors."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

BH = [sys.executable, "-m", "bridgehead"]


def bh(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BH, *args], capture_output=True, text=True, timeout=60, input=input)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("bridgehead: error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_lifecycle_status_and_monitor_over_simulated_time(tmp_path):
    s = str(tmp_path / "state")
    first = json.loads(bh("authcert", "new", "--state-dir", s, "--json", "--now", "2025-01-01").stdout)
    assert first["current"] is True
    key = tmp_path / "state" / "authcert" / f"{first['thumbprint']}.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    status = json.loads(bh("authcert", "status", "--state-dir", s, "--json", "--now", "2025-01-01").stdout)
    for slot in ("current", "next", "previous"):
        assert slot in status
    assert set(status["current"]) >= {"thumbprint", "not_after", "days_left"}
    assert status["current"]["days_left"] == 5 * 365 and status["next"] is None

    ok = bh("authcert", "monitor", "--state-dir", s, "--json", "--now", "2026-01-01")
    assert ok.returncode == 0 and json.loads(ok.stdout)["action"] == "none"
    late = "2029-11-15"  # ~46 days left
    due = bh("authcert", "monitor", "--state-dir", s, "--json", "--now", late)
    assert due.returncode == 1 and json.loads(due.stdout)["action"] == "stage-next"
    applied = bh("authcert", "monitor", "--state-dir", s, "--json", "--now", late, "--apply")
    result = json.loads(applied.stdout)
    assert applied.returncode == 0 and result["applied"] and result["effective"].startswith("2029-12-15")
    staged = json.loads(bh("authcert", "status", "--state-dir", s, "--json", "--now", late).stdout)
    assert staged["next"]["thumbprint"] == result["new_thumbprint"]
    rolled = json.loads(bh("authcert", "status", "--state-dir", s, "--json", "--now", "2029-12-16").stdout)
    assert rolled["current"]["thumbprint"] == result["new_thumbprint"]
    assert rolled["previous"]["thumbprint"] == first["thumbprint"]
    cleared = json.loads(bh("authcert", "clear-previous", "--state-dir", s, "--json", "--now", "2029-12-16").stdout)
    assert cleared["previous"] is None


def test_expired_current_replaced_now(tmp_path):
    s = str(tmp_path / "state")
    bh("authcert", "new", "--state-dir", s, "--days", "10", "--now", "2025-01-01")
    due = json.loads(bh("authcert", "monitor", "--state-dir", s, "--json", "--now", "2025-02-01").stdout)
    assert due["action"] == "replace-now" and due["failure"] == "oauth-auth-cert-expired"
    done = json.loads(bh("authcert", "monitor", "--state-dir", s, "--json", "--apply", "--now", "2025-02-01").stdout)
    status = json.loads(bh("authcert", "status", "--state-dir", s, "--json", "--now", "2025-02-01").stdout)
    assert status["current"]["thumbprint"] == done["new_thumbprint"] and not status["current"]["expired"]


def test_set_next_publish_export(tmp_path):
    s = str(tmp_path / "state")
    bh("authcert", "new", "--state-dir", s)
    second = json.loads(bh("authcert", "new", "--state-dir", s, "--json").stdout)
    assert second["current"] is False
    out = json.loads(
        bh("authcert", "set-next", second["thumbprint"], "--effective", "+30d", "--state-dir", s, "--json").stdout
    )
    assert out["next"]["thumbprint"] == second["thumbprint"] and out["next"]["effective"]
    out = json.loads(bh("authcert", "publish", "--state-dir", s, "--json").stdout)
    assert out["current"]["thumbprint"] == second["thumbprint"]
    jwks = json.loads(bh("authcert", "export", "--format", "jwks", "--state-dir", s).stdout)
    assert jwks["keys"][0]["kty"] == "RSA" and jwks["keys"][0]["x5c"]
    meta = tmp_path / "meta.json"
    meta.write_text(
        bh("authcert", "export", "--format", "metadata", "--realm", "contoso.test", "--state-dir", s).stdout
    )
    # the metadata document is what a partner imports: round-trip it into another trust store
    other = str(tmp_path / "partner")
    added = bh(
        "oauth", "trust", "add-issuer", "--name", "onprem", "--metadata", str(meta), "--state-dir", other, "--json"
    )
    assert json.loads(added.stdout)["issuer"] == "00000002-0000-0ff1-ce00-000000000000@contoso.test"
    listed = json.loads(bh("oauth", "trust", "list", "--state-dir", other, "--json").stdout)
    assert listed[0]["certificates"][0]["thumbprint"] == second["thumbprint"]
    assert bh("oauth", "trust", "remove", "onprem", "--state-dir", other).returncode == 0
    one_line_error(bh("oauth", "trust", "remove", "onprem", "--state-dir", other))


def test_validate_and_decode_commands(tmp_path):
    s = str(tmp_path / "state")
    bh("authcert", "new", "--state-dir", s)
    token = bh("oauth", "token", "--host", "owa.example.test", "--realm", "r.test", "--state-dir", s).stdout.strip()
    ok = bh("oauth", "validate", token, "--host", "owa.example.test", "--state-dir", s, "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["principal"]["user"] == "user1@example.test"
    bad = bh("oauth", "validate", token, "--host", "hybrid.example.test", "--state-dir", s, "--json")
    data = json.loads(bad.stdout)
    assert bad.returncode == 1 and data["failure"]["code"] == "oauth-audience-host-mismatch"
    decoded = json.loads(bh("decode", f"Bearer {token}", "--at", "hybrid.example.test", "--json").stdout)
    assert decoded["token_type"] == "app_asserted_user_v1"
    assert decoded["actortoken"]["header"]["alg"] == "RS256"
    assert decoded["actortoken"]["signature"].endswith("not shown>")
    assert decoded["audience_check"]["fits"] is False
    from bridgehead.wire.jwt import decode

    actor_signature = decode(token).claims["actortoken"].split(".")[2]
    text = bh("decode", "-", "--json", input=token).stdout
    assert actor_signature not in text and decoded["actortoken"]["header"]["x5t"] in text


@pytest.mark.parametrize(
    "args",
    [
        ["authcert", "set-next", "not-a-thumbprint"],
        ["authcert", "set-next", "AB" * 20, "--effective", "tomorrowish"],
        ["authcert", "publish"],
        ["authcert", "new", "--subject", "not a dn"],
        ["oauth", "token", "--host", "h", "--realm", "r"],
        ["oauth", "trust", "add-issuer", "--name", "x", "--issuer", "noat", "--cert", "/nonexistent"],
        ["oauth", "trust", "add-issuer", "--name", "x", "--issuer", "a@b"],
        ["oauth", "decode", "abc"],
        ["decode", "Bearer a.b"],
    ],
)
def test_bad_input_one_line(tmp_path, args):
    one_line_error(
        bh(*args, "--state-dir", str(tmp_path / "s")) if args[0] != "decode" and args[1] != "decode" else bh(*args)
    )


def test_trust_add_issuer_rejects_garbage_document(tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text('{"keys": [{"x5c": ["!!!"]}]}')
    one_line_error(
        bh(
            "oauth",
            "trust",
            "add-issuer",
            "--name",
            "x",
            "--issuer",
            "a@b",
            "--metadata",
            str(junk),
            "--state-dir",
            str(tmp_path / "s"),
        )
    )
