"""The layering of DESIGN.md §3: wire → core → runtime/cli, imports pointing one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "bridgehead"

FORBIDDEN = {
    "wire": ("bridgehead.core", "bridgehead.runtime", "bridgehead.cli", "asyncio", "socket"),
    "failures": ("bridgehead.core", "bridgehead.runtime", "bridgehead.cli", "bridgehead.wire"),
    "core": ("bridgehead.runtime", "bridgehead.cli", "asyncio", "socket"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer: str) -> None:
    offenders = []
    for path in sorted((PKG / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(PKG)} imports {name}")
    assert offenders == []
