"""Groups in access rules and the users file's group field (pure: core/access_rules, core/proxy_auth)."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from bridgehead.core.access_rules import Verdict, evaluate, parse_rule, user_matches
from bridgehead.core.proxy_auth import (
    UsersFormatError,
    group_members,
    make_user,
    ntlm_store,
    parse_users,
    render_users,
)

LOOPBACK = ipaddress.ip_address("127.0.0.1")
OLD_LINE = "CORP\\alice:scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA:" + "00" * 16  # written before groups


def test_old_files_read_as_before_and_groups_round_trip() -> None:
    (old,) = parse_users([OLD_LINE])
    assert old.groups == () and old.can_log_on
    bob = make_user("bob", None, ["sales", "Sales", "vpn"])
    assert bob.groups == ("sales", "vpn") and not bob.can_log_on  # deduplicated, membership only
    again = parse_users(render_users([old, bob]).splitlines())
    assert [(u.name, u.groups) for u in again] == [("CORP\\alice", ()), ("bob", ("sales", "vpn"))]
    assert [u.name for u in ntlm_store(again).users] == ["alice"]  # no NTLM logon for a membership-only entry
    with pytest.raises(UsersFormatError):
        make_user("carol", "pw", ["a,b"])
    with pytest.raises(UsersFormatError):
        parse_users(["dave:::"])  # neither hashes nor groups: not an entry


@pytest.mark.parametrize(("entry", "user", "named"), [
    ("alice", "CORP\\alice", True), ("alice", "EXAMPLE.TEST\\alice", True), ("alice", "alice@example.test", True),
    ("alice@EXAMPLE.TEST", "EXAMPLE.TEST\\alice", True), ("EXAMPLE.TEST\\alice", "alice@example.test", True),
    ("CORP\\alice", "EXAMPLE.TEST\\alice", False), ("alice@EXAMPLE.TEST", "alice", False),
    ("alice", "bob", False), ("*", "anyone", True),
])
def test_user_names(entry: str, user: str, named: bool) -> None:
    assert user_matches(entry, user) is named


def test_a_group_rule_applies_to_its_members_only() -> None:
    users = parse_users([OLD_LINE + ":sales", "bob@EXAMPLE.TEST:::sales", "carol:::vpn"])
    assert group_members(users, "SALES") == ("CORP\\alice", "bob@EXAMPLE.TEST")
    rule = parse_rule({"name": "Sales", "action": "allow", "groups": ["sales"]}, 1)
    rule = dataclasses.replace(rule, members=group_members(users, "sales"))
    deny = parse_rule({"name": "Others", "action": "deny", "authenticate": True}, 2)
    assert rule.needs_user
    for user, verdict, name in [("CORP\\alice", Verdict.ALLOW, "Sales"), ("EXAMPLE.TEST\\bob", Verdict.ALLOW, "Sales"),
                                ("carol", Verdict.DENY, "Others"), (None, Verdict.AUTHENTICATE, "Sales")]:
        decision = evaluate([rule, deny], LOOPBACK, "crm.example.test", 443, "CONNECT", user=user)
        assert (decision.verdict, decision.rule) == (verdict, name), user
    # an exempt source does not pass a group rule anonymously (the group names users)
    decision = evaluate([rule, deny], LOOPBACK, "crm.example.test", 443, "CONNECT", exempt=True)
    assert decision.verdict == Verdict.AUTHENTICATE
