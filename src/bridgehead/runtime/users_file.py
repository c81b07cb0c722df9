"""Reads a users file (``DOMAIN:user:password`` or smbpasswd-style lines) into the core's
:class:`~bridgehead.core.ntlm.users.UserStore`; the format and lookup rules live there."""

from __future__ import annotations

from pathlib import Path

from bridgehead.core.ntlm.users import UsersFileError, UserStore

__all__ = ["load_users"]


def load_users(path: str | Path) -> UserStore:
    """The users of ``path``; :class:`UsersFileError` (one line) when it cannot be read or parsed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsersFileError(f"cannot read users file {path}: {exc}") from None
    return UserStore.from_lines(text.splitlines())
