"""Running a documented quick start as written: the ``sh`` blocks of one section of a page under
docs/, the two documented ports replaced by free ones, in an environment with this bridgehead on
PATH and no proxy or CA-bundle variables.

    qs = Quickstart.of("lab.md", "### Reverse-proxy quick start", tmp_path)
    setup, start, client = qs.blocks
    qs.setup(setup)                                  # bash -euo pipefail, must exit 0
    with qs.programs(start) as commands: ...       # backend, then the edge; stopped by PID after
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bridgehead.runtime.lab.procs import Programs, clean_env, free_port

DOCS = Path(__file__).resolve().parents[3] / "docs"


@dataclass
class Quickstart:
    blocks: list[str]
    cwd: Path
    edge: int = field(default_factory=free_port)
    backend: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=clean_env)

    def __post_init__(self) -> None:
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"

    @classmethod
    def of(cls, page: str, heading: str, cwd: Path, until: str | None = None) -> Quickstart:
        text = (DOCS / page).read_text().split(heading, 1)[1]
        if until is not None:
            text = text.split(until, 1)[0]
        return cls(re.findall(r"```sh\n(.*?)```", text, flags=re.S), cwd)

    def ports(self, text: str) -> str:
        return text.replace("8443", str(self.edge)).replace("9443", str(self.backend))

    def lines(self, block: str) -> list[str]:
        return [x for x in self.ports(block).splitlines() if x.strip()]

    def setup(self, block: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-euo", "pipefail", "-c", self.ports(block)], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=120)

    @contextmanager
    def programs(self, block: str) -> Iterator[list[list[str]]]:
        """Start the block's two commands (backend on its port, then the edge) and yield their argv."""
        commands = [shlex.split(line) for line in self.lines(block)]
        with Programs(self.cwd) as progs:
            for command, port in zip(commands, (self.backend, self.edge), strict=False):
                progs.start(command[1], command, port=port, env=self.env, cwd=self.cwd)
            yield commands
