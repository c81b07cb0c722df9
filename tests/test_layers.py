"""The layering of DESIGN.md §3: wire → core → runtime/cli, imports pointing one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "bridgehead"

# wire and core decide; they do no I/O: no sockets, TLS, GSSAPI, processes, files or environment
NO_IO = ("asyncio", "socket", "ssl", "gssapi", "subprocess")
FORBIDDEN = {
    "wire": ("bridgehead.core", "bridgehead.runtime", "bridgehead.cli", *NO_IO),
    "failures": ("bridgehead.core", "bridgehead.runtime", "bridgehead.cli", "bridgehead.wire"),
    "core": ("bridgehead.runtime", "bridgehead.cli", *NO_IO),
}
# calls that read or write files or the environment (``open``, ``Path.read_text`` …, ``os.environ``)
FILE_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "open", "mkdir", "unlink", "touch"}


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


def _io_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
            found.append(f"line {node.lineno}: open()")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FILE_METHODS:
            found.append(f"line {node.lineno}: .{node.func.attr}()")
        elif isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv") \
                and isinstance(node.value, ast.Name) and node.value.id == "os":
            found.append(f"line {node.lineno}: os.{node.attr}")
    return found


@pytest.mark.parametrize("layer", ["wire", "core"])
def test_wire_and_core_touch_no_files_or_environment(layer: str) -> None:
    offenders = [f"{path.relative_to(PKG)} {use}" for path in sorted((PKG / layer).rglob("*.py"))
                 for use in _io_uses(path)]
    assert offenders == []
