"""Proxy users and the Basic scheme for proxy authentication (pure; the runtime reads the file).

The users file that ``bridgehead users add FILE USER`` keeps, one user a line::

    # bridgehead proxy users: NAME:SCRYPT-HASH:NT-HASH[:GROUP,GROUP...]
    CORP\\alice:scrypt$16384$8$1$<salt>$<hash>:<32 hex digits>
    bob:scrypt$16384$8$1$<salt>$<hash>:<32 hex digits>:sales,vpn
    carol@EXAMPLE.TEST:::sales

* ``NAME`` is ``user`` or ``DOMAIN\\user`` (the NTLM domain; an entry without one matches any
  domain the client sends, as in :mod:`bridgehead.core.ntlm.users`);
* the scrypt hash (RFC 7914, :mod:`bridgehead.core.ops.password`) verifies Basic passwords;
* the NT hash (NTOWFv1 = MD4(UTF-16LE(password)), MS-NLMP §3.3.1) is what the NTLM acceptor
  needs: NTLM cannot be verified without it, so the file is written 0600 and must be guarded like
  the password itself. No plaintext password is stored; no LM hash is kept.
* the optional fourth field lists the user's groups (``[[rule]] groups = [...]``); a file
  without it (written before groups existed) reads as before. An entry with both hashes empty
  (``users add --no-password``) holds group membership only: for users who authenticate with
  Negotiate/Kerberos (or NTLM against another store) and have no password here. It never
  verifies a Basic or NTLM logon.

Group membership is by user name, compared as ``[[rule]] users`` compares them
(:func:`bridgehead.core.access_rules.user_matches`): an entry ``alice`` gives its groups to
``alice``, ``CORP\\alice`` and ``alice@EXAMPLE.TEST``; ``CORP\\alice`` only to that name.

Basic (RFC 7617 §2): ``Proxy-Authorization: Basic base64(user-id ":" password)``, the user-id
not containing a colon; the charset is UTF-8 (``charset="UTF-8"`` in the challenge, §2.1).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from bridgehead.core.ntlm.users import User, UserStore
from bridgehead.core.ops.password import hash_password, verify_password
from bridgehead.wire.pyspnego_private import ntowfv1

HEADER = ("# bridgehead proxy users: NAME:SCRYPT-HASH:NT-HASH[:GROUPS] (written by 'bridgehead users add'; "
          "keep it 0600)")
BASIC_CHALLENGE = 'Basic realm="bridgehead", charset="UTF-8"'


class UsersFormatError(ValueError):
    """A line of the proxy users file cannot be read."""


@dataclass(frozen=True)
class ProxyUser:
    name: str  # as written: user or DOMAIN\user
    scrypt: str  # "" for a membership-only entry
    nt_hash: bytes  # b"" for a membership-only entry
    groups: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never print hashes
        return f"ProxyUser({self.name!r})"

    @property
    def can_log_on(self) -> bool:
        """False for a membership-only entry (no hashes): it never verifies a password."""
        return bool(self.scrypt and self.nt_hash)

    @property
    def domain(self) -> str:
        return self.name.rpartition("\\")[0]

    @property
    def user(self) -> str:
        return self.name.rpartition("\\")[2]

    def line(self) -> str:
        groups = f":{','.join(self.groups)}" if self.groups else ""
        return f"{self.name}:{self.scrypt}:{self.nt_hash.hex()}{groups}"


def make_user(name: str, password: str | None, groups: Iterable[str] = ()) -> ProxyUser:
    """A user with a password, or (``password`` None) a membership-only entry."""
    check_name(name)
    names = check_groups(groups)
    if password is None:
        return ProxyUser(name, "", b"", names)
    return ProxyUser(name, hash_password(password), ntowfv1(password), names)


def check_groups(groups: Iterable[str]) -> tuple[str, ...]:
    """The group names, deduplicated in order; ``UsersFormatError`` for one the file cannot hold."""
    out: list[str] = []
    for group in groups:
        if not group or any(c in group for c in ":,") or any(c.isspace() for c in group):
            raise UsersFormatError(f"invalid group name {group!r}: no ':', ',' or spaces")
        if group.lower() not in (g.lower() for g in out):
            out.append(group)
    return tuple(out)


def check_name(name: str) -> None:
    if not name or ":" in name or any(c.isspace() for c in name) or name.count("\\") > 1 or name.endswith("\\"):
        raise UsersFormatError(f"invalid user name {name!r}: use user or DOMAIN\\user, without ':' or spaces")


def parse_users(lines: Iterable[str]) -> list[ProxyUser]:
    users = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(":")
        membership_only = len(parts) == 4 and parts[1] == parts[2] == ""
        if len(parts) not in (3, 4) or not (parts[1].startswith("scrypt$") or membership_only):
            raise UsersFormatError(f"line {number}: expected NAME:SCRYPT-HASH:NT-HASH[:GROUPS] "
                                   "(see 'bridgehead users add')")
        try:
            nt_hash = bytes.fromhex(parts[2])
            check_name(parts[0])
        except (ValueError, UsersFormatError):
            raise UsersFormatError(f"line {number}: bad user name or NT hash") from None
        if len(nt_hash) != 16 and not membership_only:
            raise UsersFormatError(f"line {number}: the NT hash must be 32 hex digits")
        try:
            groups = check_groups(parts[3].split(",")) if len(parts) == 4 and parts[3] else ()
        except UsersFormatError as exc:
            raise UsersFormatError(f"line {number}: {exc}") from None
        if membership_only and not groups:
            raise UsersFormatError(f"line {number}: an entry without hashes must name groups (NAME:::GROUPS)")
        users.append(ProxyUser(parts[0], parts[1], nt_hash, groups))
    return users


def group_members(users: Iterable[ProxyUser], group: str) -> tuple[str, ...]:
    """The names of the entries in ``group`` (case-insensitive), as ``[[rule]] users`` entries."""
    wanted = group.lower()
    return tuple(u.name for u in users if any(g.lower() == wanted for g in u.groups))


def render_users(users: Iterable[ProxyUser]) -> str:
    return "\n".join([HEADER, *(u.line() for u in users)]) + "\n"


def upsert(users: list[ProxyUser], new: ProxyUser) -> tuple[list[ProxyUser], bool]:
    """The list with ``new`` added or replacing the same name (case-insensitive); True if replaced."""
    out, replaced = [], False
    for user in users:
        if user.name.lower() == new.name.lower():
            out.append(new)
            replaced = True
        else:
            out.append(user)
    if not replaced:
        out.append(new)
    return out, replaced


def ntlm_store(users: Iterable[ProxyUser]) -> UserStore:
    """The users as the NTLM acceptor reads them (no LM hash: LMv1 responses never verify)."""
    return UserStore(User(u.domain, u.user, u.nt_hash, b"\x00" * 16) for u in users if u.can_log_on)


@dataclass(frozen=True)
class BasicCredentials:
    user: str
    password: str

    def __repr__(self) -> str:
        return f"BasicCredentials({self.user!r}, password=***)"


def parse_basic(credentials: str) -> BasicCredentials:
    """The token68 of ``Basic``; ``ValueError`` when it is not base64 of ``user:password`` in UTF-8."""
    try:
        raw = base64.b64decode(credentials.strip(), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise ValueError("Basic credentials are not base64 of UTF-8 user:password (RFC 7617 §2)") from None
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise ValueError("Basic credentials have no user-id ':' password (RFC 7617 §2)")
    return BasicCredentials(user, password)


def find_user(users: Iterable[ProxyUser], name: str) -> ProxyUser | None:
    """``alice`` finds ``alice`` or ``CORP\\alice``; ``CORP\\alice`` finds that entry or a domain-less one."""
    domain, _, bare = name.rpartition("\\")
    matches = [u for u in users if u.user.lower() == bare.lower()]
    for user in matches:
        if user.domain.lower() == domain.lower():
            return user
    for user in matches:
        if not user.domain or not domain:
            return user
    return None


def verify_basic(users: Iterable[ProxyUser], creds: BasicCredentials) -> ProxyUser | None:
    user = find_user([u for u in users if u.can_log_on], creds.user)
    if user is None:
        verify_password(creds.password, _DUMMY)  # the same work for an unknown user (no timing oracle)
        return None
    return user if verify_password(creds.password, user.scrypt) else None


_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
