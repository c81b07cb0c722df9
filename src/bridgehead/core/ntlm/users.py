"""The users file: ``DOMAIN:user:password`` per line (Heimdal's format, which pyspnego and
gss-ntlmssp read through ``NTLM_USER_FILE``), or smbpasswd-style
``user:uid:LMHASH:NTHASH:flags:lct`` lines. ``#`` starts a comment.

Lookup is case-insensitive. An entry with an empty domain matches any domain the client
sends; a client that sends no domain matches an entry by user name alone.

Reading the file is runtime work: :func:`bridgehead.runtime.users_file.load_users`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from bridgehead.wire.pyspnego_private import lmowfv1, ntowfv1

__all__ = ["User", "UserStore", "UsersFileError"]


class UsersFileError(ValueError):
    """A line of the users file cannot be read."""


@dataclass(frozen=True)
class User:
    domain: str
    name: str
    nt_hash: bytes  # NTOWFv1 = MD4(UNICODE(password)), MS-NLMP §3.3.1
    lm_hash: bytes

    def __repr__(self) -> str:  # never print hashes
        return f"User({self.domain!r}, {self.name!r})"


class UserStore:
    def __init__(self, users: Iterable[User]) -> None:
        self.users = list(users)

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> UserStore:
        users = []
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split(":")
            if len(parts) == 3:
                domain, name, password = parts
                users.append(User(domain, name, ntowfv1(password), lmowfv1(password)))
            elif len(parts) == 6:
                raw, lm_hex, nt_hex = parts[0], parts[2], parts[3]
                domain, _, name = raw.rpartition("\\")
                try:
                    users.append(User(domain, name, base64.b16decode(nt_hex.upper()),
                                      base64.b16decode(lm_hex.upper())))
                except ValueError:
                    raise UsersFileError(f"line {number}: bad hash in smbpasswd-style entry") from None
            else:
                raise UsersFileError(f"line {number}: expected DOMAIN:user:password (or smbpasswd format)")
            if not name:
                raise UsersFileError(f"line {number}: empty user name")
        return cls(users)

    def find(self, domain: str | None, name: str) -> User | None:
        name_l, domain_l = name.lower(), (domain or "").lower()
        by_name = [u for u in self.users if u.name.lower() == name_l]
        for user in by_name:
            if user.domain.lower() == domain_l:
                return user
        for user in by_name:
            if not user.domain:
                return user
        if not domain_l and len(by_name) == 1:
            return by_name[0]
        return None
