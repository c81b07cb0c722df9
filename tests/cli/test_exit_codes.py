"""The exit-status convention of README.md ("Exit status"), checked for every command.

0 done / the check passed · 1 the check's answer is negative · 2 bad input (usage, a configuration
or input file that cannot be used, nothing to read) · 3 internal error · 130 interrupted.
Every leaf command answers ``--help`` with 0 and an unknown option with 2; configuration files that
are not UTF-8 TOML, nothing to read and empty standard input are 2 with one line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from bridgehead.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")


def _leaves() -> list[tuple[str, ...]]:
    ctx = click.Context(cli)
    out: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"{' '.join((*path, name))} is listed but cannot be loaded"
                walk(sub, (*path, name))
        else:
            out.append(path)

    walk(cli, ())
    return out


LEAVES = _leaves()


def run(*args: str, stdin: str | bytes = "", cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([BRIDGEHEAD, *args], input=data, capture_output=True, timeout=60, cwd=cwd)


def test_every_command_help_is_0_and_an_unknown_option_is_2() -> None:
    # in one process per command would take a minute; click's runner drives the same objects
    from click.testing import CliRunner

    runner = CliRunner()
    assert len(LEAVES) > 20
    for path in LEAVES:
        helped = runner.invoke(cli, [*path, "--help"])
        assert helped.exit_code == 0 and "Usage:" in helped.output, (path, helped.output)
        bad = runner.invoke(cli, [*path, "--no-such-option-anywhere"])
        assert bad.exit_code == 2 and "No such option" in bad.output, (path, bad.output)


def _one_line(p: subprocess.CompletedProcess[bytes]) -> str:
    lines = p.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], p.stderr.decode()
    return lines[0]


def _binary(tmp_path: Path) -> Path:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(128, 256)))
    return path


@pytest.mark.parametrize("argv", [
    ("forward", "--config", "{file}"),
    ("reverse", "--config", "{file}"),
    ("lint", "--config", "{file}"),
    ("kcd", "test", "--config", "{file}", "--route", "r", "--user", "u@EXAMPLE.TEST"),
    ("config", "apply", "{file}", "--state-dir", "{tmp}/state"),
    ("serve", "--config", "{file}", "--state-dir", "{tmp}/state"),
])
def test_binary_configuration_file_is_2_naming_the_file(tmp_path: Path, argv: tuple[str, ...]) -> None:
    file = _binary(tmp_path)
    p = run(*(a.replace("{file}", str(file)).replace("{tmp}", str(tmp_path)) for a in argv))
    line = _one_line(p)
    assert p.returncode == 2 and "binary.toml" in line and "UnicodeDecodeError" not in line, line


def test_logs_scan_nothing_to_read_is_2_for_a_missing_file_and_an_empty_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (tmp_path / "missing.log", empty):
        p = run("logs", "scan", str(target))
        assert p.returncode == 2, p.stderr
        assert "nothing to read" in p.stderr.decode().splitlines()[-1], p.stderr
    p = run("logs", "scan", "--json", str(empty))
    assert p.returncode == 2 and "nothing to read" in p.stderr.decode()


def test_oauth_validate_empty_stdin_is_an_input_error(tmp_path: Path) -> None:
    for stdin in ("", "\n  \n"):
        p = run("oauth", "validate", "-", "--state-dir", str(tmp_path / "state"), stdin=stdin)
        line = _one_line(p)
        assert p.returncode == 2 and "no token" in line and "401" not in p.stdout.decode(), line


def test_internal_error_is_3(tmp_path: Path) -> None:
    code = ("import sys, click\nfrom bridgehead.cli import main\n"
            "@click.command()\ndef boom():\n    raise RuntimeError('a bug')\n"
            "main.COMMANDS['boom'] = ('__main__', 'boom')\nsys.exit(main.main())\n")
    p = subprocess.run([sys.executable, "-c", code, "boom"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 3
    assert p.stderr.strip().splitlines() == ["bridgehead: internal error: RuntimeError: a bug "
                                             "(BRIDGEHEAD_DEBUG=1 shows the traceback)"]


def test_readme_has_the_one_table() -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Exit status", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\d+)` \| (.+?) \|$", section, flags=re.M))
    assert set(rows) == {"0", "1", "2", "3", "130"}, rows
    assert "nothing to read" in rows["2"] and "configuration" in rows["2"]
