"""docs/forward.md is tested as written: every ```sh block runs, in order, in one directory."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.runtime.forward.conftest import BRIDGEHEAD, ROOT


def test_forward_walkthrough_runs_as_written(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "forward.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    env = {**os.environ, "PATH": f"{Path(BRIDGEHEAD).parent}:{os.environ['PATH']}"}
    outputs = []
    for block in blocks:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, capture_output=True,
                              text=True, env=env, timeout=120)
        assert done.returncode == 0, (block, done.stderr)
        outputs.append(done.stdout + done.stderr)
    assert (tmp_path / "proxy-users.txt").stat().st_mode & 0o777 == 0o600
    check = outputs[2]
    assert "would listen on 0.0.0.0:8080" in check and "rule 1 'Anonymous Access To Web': allow" in check
    assert "exception-source[1] 192.0.2.10: tunnelled, exempt from authentication" in check
    assert "refused as expected: 2" in outputs[3] and "open proxy" in outputs[3]
    assert not (tmp_path / "state").exists()  # --check never creates the state directory or a CA
