"""The serve layout carries the forward proxy's [[rule]] and [[chain]] tables at the top level, and the
forward section's file settings are relative to the gateway file (as `forward --config` reads them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridgehead.runtime.forward.config import ConfigError
from bridgehead.runtime.ops.gateway_config import parse_text

TEXT = """
state_dir = "state"
[forward]
listen = "127.0.0.1:3128"
auth = ["basic"]
users = "users.txt"

[[rule]]
name = "DirSync"
action = "allow"
source = ["127.0.0.3"]

[[rule]]
name = "Staff"
action = "allow"
authenticate = true

[[chain]]
destination = ["*.partner.example"]
via = "direct"
"""


def test_top_level_rules_and_chain_reach_the_forward_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "users.txt").write_text("")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # users.txt is found beside the gateway file, not in the working folder
    cfg = parse_text(TEXT, tmp_path / "gateway.toml", check_files=False)
    assert cfg.forward is not None
    assert [r.name for r in cfg.forward.rules] == ["DirSync", "Staff"]
    assert cfg.forward.auth is not None


def test_a_bad_rule_is_named(tmp_path: Path) -> None:
    (tmp_path / "users.txt").write_text("")
    with pytest.raises(ConfigError, match="rule"):
        parse_text(TEXT.replace('action = "allow"\nsource', 'action = "maybe"\nsource'), tmp_path / "g.toml",
                   check_files=False)
