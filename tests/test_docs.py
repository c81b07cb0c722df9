"""README.md, docs/ and examples/ stand on their own (issue 16 item 10): no path outside the repository, no
reference to requirement files a user's clone does not have, and every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md")),
        *sorted(p for p in (ROOT / "examples").rglob("*") if p.is_file())]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_document_stands_on_its_own(doc: Path) -> None:
    text = doc.read_text()
    relative = [m for m in re.findall(r"(?<![\w/.])\.\./[\w./-]+", text)
                if not (doc.parent / m).resolve().is_relative_to(ROOT)]
    absolute = re.findall(r"/work/[\w./-]+|\bshared/(?:seeds|DESIGN)\S*", text)
    assert not relative + absolute, f"{doc.name} points outside the repository: {relative + absolute}"
    seeds = re.findall(r"\bseeds?\s+\d{3}\b", text)
    assert not seeds, f"{doc.name} refers to requirement files a user does not have: {seeds}"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{doc.name}: broken link {target}"
