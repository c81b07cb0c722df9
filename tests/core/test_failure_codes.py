"""One failure path: the ``Code`` enum is the registry, and every code used in ``src/`` exists.

The scan reads every string constant of every module under ``src/bridgehead`` (AST, so
comments and docstrings' prose do not count but ``code="..."``, ``render("...")``,
``{"code": "..."}`` and table keys do) that has the shape of a registry code — lower-case
words joined by ``-`` starting with one of the registry's area prefixes — and requires it
to be a registry code. A typo or a code nobody registered fails here, not as "No known
failure matches" on a user's screen.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bridgehead.failures import REGISTRY, Code, by_tls_alert, by_x509, platform_number
from bridgehead.failures.gencodes import TARGET, render

SRC = Path(__file__).resolve().parents[2] / "src" / "bridgehead"
SHAPE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$")
# Strings of the same shape that are not failure codes: store namespaces, lab row names, log formats.
NOT_CODES = {"oauth-authcert", "oauth-authconfig", "oauth-issuer", "oauth-partner",
             "tls-incompatible-connection-closed", "tmg-text",
             "inspection-ca", "revocation-crl", "revocation-ocsp",  # store namespaces (forward CA, CRL/OCSP cache)
             "admin-password"}  # the generated console password file in the state directory


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def code_strings() -> dict[str, list[str]]:
    prefixes = {code.split("-", 1)[0] for code in REGISTRY}
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        docs = _docstring_nodes(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                    and SHAPE.match(node.value) and node.value.split("-", 1)[0] in prefixes):
                found.setdefault(node.value, []).append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_code_enum_is_generated_from_the_registry() -> None:
    assert TARGET.read_text(encoding="utf-8") == render(), "run: python -m bridgehead.failures.gencodes"
    assert [c.value for c in Code] == list(REGISTRY)
    assert Code.NTLM_BAD_BINDINGS.value == "ntlm-bad-bindings" and str(Code.NTLM_BAD_BINDINGS) == "ntlm-bad-bindings"


def test_every_code_used_in_src_is_in_the_registry() -> None:
    used = code_strings()
    unknown = {code: where for code, where in used.items() if code not in REGISTRY and code not in NOT_CODES}
    assert unknown == {}
    # the scan does see the codes the proxies raise
    assert {"upstream-cert-expired", "ntlm-bad-bindings", "client-cert-under-inspection"} <= used.keys()


def test_platform_numbers_are_lookup_keys() -> None:
    assert [f.code for f in by_x509(10)] == ["upstream-cert-expired"]
    assert [f.code for f in by_x509(26)] == ["upstream-cert-not-server"]
    assert [f.code for f in by_tls_alert(48)] == ["tls-alert-48"]
    assert platform_number("ntlm-bad-bindings", "ntstatus") == 0xC000035B
    assert platform_number("ntlm-bad-bindings", "hresult") == 0x80090346
    assert platform_number("ntlm-logon-failure", "iis_win32") == 0x8009030C
    for failure in REGISTRY.values():  # every typed number is also a lookup number
        assert set(failure.ntstatus) | set(failure.hresult) <= set(failure.numbers)


def test_every_entry_has_cause_fix_and_references() -> None:
    """A code shown anywhere leads to a title, a cause, a fix and where to read more (issue 14)."""
    thin = {code: f for code, f in REGISTRY.items()
            if not (f.title.strip() and f.cause.strip() and f.fix.strip() and f.references)}
    assert sorted(thin) == []
