"""Module docstrings name only what exists (issue 16 item 15: ``runtime/forward/upstream.py``
documented a ``CertRequestWatch`` class that did not exist): every ``:class:``/``:func:``/
``:meth:``/``:data:``/``:mod:`` reference in a module's own docstring resolves, either in the
module (a bare name) or as an importable dotted path."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "bridgehead"
ROLE = re.compile(r":(class|func|meth|data|mod|exc|attr):`~?([A-Za-z_][\w.]*)`")


def _modules() -> list[str]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def _resolves(module: object, target: str) -> bool:
    head, *rest = target.split(".")
    obj = getattr(module, head, None)
    if obj is not None:
        for part in rest:
            obj = getattr(obj, part, None)
            if obj is None:
                return False
        return True
    for cut in range(len(target.split(".")), 0, -1):  # a dotted path: longest importable module prefix
        name = ".".join(target.split(".")[:cut])
        try:
            obj = importlib.import_module(name)
        except ImportError:
            continue
        for part in target.split(".")[cut:]:
            obj = getattr(obj, part, None)
            if obj is None:
                return False
        return True
    return False


@pytest.mark.parametrize("name", _modules())
def test_module_docstring_references_exist(name: str) -> None:
    path = PKG.parent / (name.replace(".", "/") + ".py")
    if not path.exists():
        path = PKG.parent / name.replace(".", "/") / "__init__.py"
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    refs = {target for _role, target in ROLE.findall(doc)}
    if not refs:
        return
    module = importlib.import_module(name)  # the dev install has every optional dependency
    missing = sorted(r for r in refs if not _resolves(module, r))
    assert not missing, f"{name}'s docstring names what does not exist: {missing}"
