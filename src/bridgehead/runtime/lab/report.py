"""The lab's outputs: the text table (expected beside measured), the ``--json`` document and a
self-contained HTML report.

The HTML report has one table per scenario; each row shows the case, then each result column as
"expected / measured", green when the row matches and red when it does not. Every registry code
in a cell links to its explanation (title, cause, fix, TMG / Windows / Exchange equivalents) in the
report's own appendix, so the file works offline. All text is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from bridgehead import failures
from bridgehead.core.lab.model import Row, Scenario


def as_json(scenarios: list[Scenario]) -> dict[str, Any]:
    return {"scenarios": [s.as_dict() for s in scenarios], "ok": all(s.ok for s in scenarios)}


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def text_table(sc: Scenario) -> str:
    """Plain text: one line per row, ``key=expected`` and, where they differ, ``(measured X)``."""
    lines = [f"{sc.id} — {sc.title} (seed {sc.seed})"]
    if sc.error:
        lines.append(f"  not measured: {sc.error}")
    keys = [k for k in sc.result_keys if any(k in r.expected for r in sc.rows)]
    width = max((len(" ".join(_short(r.case[k]) for k in sc.case_keys)) for r in sc.rows), default=10)
    for r in sc.rows:
        case = " ".join(_short(r.case[k]) for k in sc.case_keys).ljust(width)
        cells = []
        for k in keys:
            if k not in r.expected:
                continue
            exp = _short(r.expected[k])
            got = _short((r.measured or {}).get(k)) if r.measured is not None else "?"
            cells.append(f"{k}={exp}" if got == exp else f"{k}={exp} (measured {got})")
        mark = "ok  " if r.match else "FAIL"
        lines.append(f"  {mark} {case}  {'  '.join(cells)}")
    good = sum(r.match for r in sc.rows)
    timing = f" in {sc.seconds}s" if sc.seconds is not None else ""
    lines.append(f"  {good}/{len(sc.rows)} rows match{timing}")
    return "\n".join(lines)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #1d2733; background: #fbfcfd; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #c9d1da; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #2d4a6b; color: #fff; }
tr.match td.res { background: #d6f5dc; }
tr.mismatch td.res { background: #f9d3d0; }
td.case { background: #eef2f6; font-weight: 600; }
td.res .exp { color: #33475b; } td.res .got { display: block; font-weight: 600; }
td.res.diff { outline: 3px solid #c0392b; }
.summary.ok { color: #1e7b34; font-weight: 700; } .summary.bad { color: #b03a2e; font-weight: 700; }
dl.codes dt { font-weight: 700; margin-top: 10px; } dl.codes dd { margin-left: 16px; }
.legend span { padding: 2px 8px; margin-right: 8px; border: 1px solid #c9d1da; }
"""


def _code_link(value: Any) -> str:
    text = html.escape(_short(value))
    if isinstance(value, str) and value in failures.REGISTRY:
        return f'<a href="#code-{html.escape(value)}">{text}</a>'
    return text


def _cell(row: Row, key: str) -> str:
    if key not in row.expected:
        got = (row.measured or {}).get(key)
        return f'<td class="res"><span class="got">{_code_link(got)}</span></td>' if got is not None \
            else '<td class="res"></td>'
    exp = row.expected[key]
    got = (row.measured or {}).get(key) if row.measured is not None else None
    differs = row.measured is None or got != exp
    cls = "res diff" if differs else "res"
    measured = _code_link(got) if row.measured is not None else "not measured"
    return (f'<td class="{cls}"><span class="exp">expected: {_code_link(exp)}</span>'
            f'<span class="got">measured: {measured}</span></td>')


def _scenario_html(sc: Scenario) -> str:
    keys = [k for k in sc.result_keys if any(k in r.expected or (r.measured or {}).get(k) is not None
                                             for r in sc.rows)]
    good = sum(r.match for r in sc.rows)
    ok = "ok" if sc.ok else "bad"
    out = [f'<h2 id="{sc.id}">{html.escape(sc.id)} — {html.escape(sc.title)} (seed {html.escape(sc.seed)})</h2>',
           f'<p class="summary {ok}">{good}/{len(sc.rows)} rows match'
           + (f" — not measured: {html.escape(sc.error)}" if sc.error else "") + "</p>",
           "<table><tr>" + "".join(f"<th>{html.escape(k)}</th>" for k in [*sc.case_keys, *keys]) + "</tr>"]
    for r in sc.rows:
        cls = "match" if r.match else "mismatch"
        cells = "".join(f'<td class="case">{html.escape(_short(r.case[k]))}</td>' for k in sc.case_keys)
        cells += "".join(_cell(r, k) for k in keys)
        out.append(f'<tr class="{cls}">{cells}</tr>')
    out.append("</table>")
    return "\n".join(out)


def _codes_html(scenarios: list[Scenario]) -> str:
    codes: list[str] = []
    for sc in scenarios:
        for r in sc.rows:
            for side in (r.expected, r.measured or {}):
                for v in side.values():
                    if isinstance(v, str) and v in failures.REGISTRY and v not in codes:
                        codes.append(v)
    items = []
    for code in codes:
        f = failures.get(code)
        eq = f.equivalents()
        equiv = "; ".join(x for x in [*eq["tmg"], *eq["windows"], *eq["exchange"]]) or "-"
        items.append(f'<dt id="code-{html.escape(code)}">{html.escape(code)}: {html.escape(f.title)}</dt>'
                     f"<dd><b>Cause:</b> {html.escape(f.cause)}</dd><dd><b>Fix:</b> {html.escape(f.fix)}</dd>"
                     f"<dd><b>Equivalents:</b> {html.escape(equiv)}</dd>"
                     f"<dd><code>bridgehead explain {html.escape(code)}</code></dd>")
    return '<h2 id="codes">What the codes mean</h2><dl class="codes">' + "".join(items) + "</dl>"


def html_report(scenarios: list[Scenario], *, quick: bool) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    total = sum(len(s.rows) for s in scenarios)
    good = sum(r.match for s in scenarios for r in s.rows)
    ok = "ok" if all(s.ok for s in scenarios) else "bad"
    head = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>bridgehead lab report</title>"
            f"<style>{_CSS}</style></head><body><h1>bridgehead lab report</h1>"
            f'<p class="summary {ok}" id="total">{good}/{total} rows match{" (quick subset)" if quick else ""}'
            f" — {html.escape(when)}</p>"
            '<p class="legend"><span style="background:#d6f5dc">row matches the truth table</span>'
            + ('<span style="background:#f9d3d0">row differs (the differing cell is outlined)</span>'
               if good < total else "") + "</p>")
    body = "\n".join(_scenario_html(s) for s in scenarios)
    return head + body + _codes_html(scenarios) + "</body></html>\n"
