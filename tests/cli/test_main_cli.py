"""``bridgehead --help`` and a command whose module cannot be imported (a broken install)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BROKEN = '''
import sys
from bridgehead.cli import main
main.COMMANDS["reverse"] = ("bridgehead_test_broken_reverse", "reverse")
main.COMMANDS["nosuch"] = ("bridgehead_test_not_installed", "nosuch")
main.SUMMARIES.pop("lint")
main.COMMANDS["lint"] = ("bridgehead_test_broken_lint", "lint")
sys.exit(main.main())
'''


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "bridgehead_test_broken_reverse.py").write_text("import gssapi_not_installed_here\n")
    (tmp_path / "bridgehead_test_broken_lint.py").write_text("raise ImportError('libkrb5.so.3: cannot open')\n")
    return subprocess.run([sys.executable, "-c", BROKEN, *args], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})


def test_help_shows_commands_that_cannot_be_imported_with_the_error(tmp_path: Path) -> None:
    out = run(tmp_path, "--help")
    assert out.returncode == 0, out.stderr
    lines: dict[str, str] = {}
    for line in out.stdout.split("Commands:", 1)[1].splitlines():
        if line.startswith("  ") and not line.startswith("   "):  # a command; deeper indents continue it
            name = line.split()[0]
            lines[name] = line
        elif line.strip():
            lines[name] += " " + line.strip()
    assert "No module named 'gssapi_not_installed_here'" in lines["reverse"]
    assert "broken" in lines["reverse"]
    assert "libkrb5.so.3: cannot open" in lines["lint"]
    assert "bridgehead_test_not_installed" in lines["nosuch"]
    assert "forward" in lines and "broken" not in lines["forward"]


def test_running_a_broken_command_is_one_line_naming_the_error(tmp_path: Path) -> None:
    out = run(tmp_path, "reverse", "--config", "x.toml")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "bridgehead: error: command 'reverse' cannot be loaded (broken install?): "
        "ModuleNotFoundError: No module named 'gssapi_not_installed_here'"
    ]
    assert "Traceback" not in out.stderr
    out = run(tmp_path, "reverse", "--help")
    assert out.returncode == 2 and "cannot be loaded" in out.stderr
