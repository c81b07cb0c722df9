"""``bridgehead explain [TEXT | -] [--json]``: which registry failure is behind this error text.

Reads the text from the argument, or from stdin when TEXT is ``-`` or absent. TEXT may be
a registry code, an ``X-Bridgehead-Code:`` header line, a TMG status number or a status
line of a bridgehead page. ``--list`` prints every code with its title (JSON:
``{"codes": [{"code", "title", "area", "status", ...platform numbers}]}``). Exit status:
0 when at least one failure matched, 1 when nothing did (the output says so plainly),
2 for unusable input (empty, binary).
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from bridgehead.cli.common import CliError, emit_json, json_option
from bridgehead.core.explain import MAX_INPUT, Explanation, listing
from bridgehead.core.explain import explain as run_explain


def _read_input(text: tuple[str, ...]) -> str:
    if text and text != ("-",):
        return " ".join(text)
    if sys.stdin.isatty():
        raise CliError("no text given: pass the error text as an argument or pipe it in ('-' reads stdin)")
    raw = sys.stdin.buffer.read(MAX_INPUT + 1)
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16", "replace")
    if b"\x00" in raw[:4096]:
        raise CliError("input looks binary (NUL bytes); pass text, an event XML or a log line")
    return raw.decode("utf-8", "replace")


def _evidence_lines(evidence: dict[str, Any]) -> list[str]:
    lines = []
    if evidence.get("hosts"):
        lines.append("hosts: " + ", ".join(evidence["hosts"]))
    if evidence.get("users"):
        lines.append("users: " + ", ".join(evidence["users"]))
    if evidence.get("status"):
        lines.append("HTTP status: " + ", ".join(str(s) for s in evidence["status"]))
    for code in evidence.get("codes", []):
        names = f" {', '.join(code['names'])}" if code["names"] else ""
        lines.append(f"code: {code['hex']} = {code['unsigned']} = {code['signed']}{names}")
    if evidence.get("tmg"):
        lines.append("TMG status: " + ", ".join(str(v) for v in evidence["tmg"]))
    if evidence.get("exchange_diagnostics"):
        lines.append("x-ms-diagnostics: " + ", ".join(str(v) for v in evidence["exchange_diagnostics"]))
    aud = evidence.get("audience")
    if aud:
        lines.append("audience: " + ", ".join(f"{k} {v!r}" for k, v in aud.items()))
    if evidence.get("issuer"):
        lines.append(f"token issuer: {evidence['issuer']}")
    for auth in evidence.get("authorization", []):
        lines.append(f"authorization: {auth}")
    return lines


def _print_human(result: Explanation) -> None:
    out = Console(highlight=False, soft_wrap=False)
    if not result.matches:
        out.print("No known failure matches this input (unknown input). Try a longer excerpt: the full error "
                  "text, the IIS log line or the event XML.")
        return
    shared = _evidence_lines(result.evidence)
    for i, m in enumerate(result.matches, 1):
        f = m.failure
        out.print(f"[bold]{i}. {escape(f.code)}[/bold] — {escape(f.title)}")
        out.print(f"   [dim]matched:[/dim] {escape(' | '.join(m.matched))}")
        if i == 1:
            runner_up = ", ".join(m.failure.code for m in result.matches[1:])
            out.print(f"   [dim]confidence:[/dim] {result.confidence_label} ({result.confidence:.2f})"
                      + (f"; runner-up: {escape(runner_up)}" if runner_up else ""))
            for line in shared:
                out.print(f"   [dim]evidence:[/dim] {escape(line)}")
        out.print(f"   [bold]cause:[/bold] {escape(f.cause)}")
        out.print(f"   [bold]fix:[/bold] {escape(f.fix)}")
        eq = f.equivalents()
        names = eq["tmg"] + eq["windows"] + eq["exchange"]
        if names:
            out.print(f"   [dim]equivalents:[/dim] {escape('; '.join(names))}")
        if f.references:
            out.print(f"   [dim]references:[/dim] {escape('; '.join(f.references))}")
        out.print("")
    if result.truncated:
        out.print(f"[yellow]input truncated to {MAX_INPUT} characters[/yellow]")


@click.command("explain")
@click.argument("text", nargs=-1)
@click.option("--limit", type=click.IntRange(1, 50), default=5, show_default=True, help="Most matches shown.")
@click.option("--list", "list_codes", is_flag=True, help="List every failure code with its title (no TEXT).")
@json_option
def explain(text: tuple[str, ...], limit: int, list_codes: bool, as_json: bool) -> None:
    """Name the failure behind an error TEXT (argument, or stdin with '-'): code, cause, evidence, fix.

    Accepts any error text, IIS log line, event XML, HTTP header or whole PowerShell error.
    Windows codes are recognised in hex (0x80090346), unsigned (2148074310) and signed
    (-2146892986) decimal. TEXT may also be a failure code, an 'X-Bridgehead-Code:' header line,
    a TMG status number or the status line of a bridgehead error page. --list prints every code.
    Exit status 0 = matched, 1 = nothing matched, 2 = bad input.
    """
    if list_codes:
        if text:
            raise CliError("--list takes no TEXT")
        codes = listing()
        if as_json:
            emit_json({"codes": codes})
        else:
            out = Console(highlight=False, soft_wrap=True)
            width = max(len(c["code"]) for c in codes)
            for c in codes:
                out.print(f"{escape(c['code']).ljust(width)}  {escape(c['title'])}")
        return
    body = _read_input(text)
    if not body.strip():
        raise CliError("empty input")
    result = run_explain(body, limit=limit)
    if as_json:
        emit_json(result.as_dict())
    else:
        _print_human(result)
    if not result.matches:
        sys.exit(1)
