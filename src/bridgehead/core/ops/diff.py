"""The diff stored with each configuration version: a unified diff of the TOML text.

Secrets never reach the store's diff column: lines whose key looks like a secret
(``password``, ``secret``, ``token``, ``passphrase``, ``password_hash``) are shown with the value
replaced by ``***`` on both sides, so ``config history`` can be shown to anyone who may read it.
"""

from __future__ import annotations

import difflib
import re

_SECRET_KEY = re.compile(r"^(\s*[\w.\"-]*(?:password|secret|token|passphrase)[\w\"-]*\s*=\s*).*$", re.IGNORECASE)


def redact(text: str) -> str:
    return "\n".join(_SECRET_KEY.sub(r"\1***", line) for line in text.splitlines())


def config_diff(old: str | None, new: str, old_label: str, new_label: str) -> str:
    before = redact(old).splitlines(keepends=False) if old is not None else []
    after = redact(new).splitlines(keepends=False)
    return "\n".join(difflib.unified_diff(before, after, old_label, new_label, lineterm=""))


def diff_summary(diff: str) -> str:
    """``+A -R`` lines changed (header lines excluded)."""
    added = sum(1 for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff.splitlines() if line.startswith("-") and not line.startswith("---"))
    return f"+{added} -{removed}"
