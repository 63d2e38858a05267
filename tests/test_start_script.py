"""scripts/start.sh installs only when pyproject.toml changed since the last install: a second
start goes straight to the bot. Checked by what it runs, through a stand-in .venv/bin/python."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from support.local_server import REPO

# Records each call; `-m chatstate run` prints the banner as the real one does.
STAND_IN = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/../../calls.log"
if [ "$1 $2" = "-m chatstate" ]; then echo "Bot console: http://127.0.0.1:8787/?token=t"; fi
"""


def start(project: Path) -> list[str]:
    """Run start.sh; the calls it made to the venv's python, one line each."""
    log = project / "calls.log"
    log.write_text("")
    result = subprocess.run(
        ["bash", "scripts/start.sh"], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Bot console: http://127.0.0.1:8787/" in result.stdout
    return log.read_text().splitlines()


def test_a_second_start_runs_the_bot_without_running_pip(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    for name in ("scripts/setup.sh", "scripts/start.sh", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(STAND_IN)
    python.chmod(0o755)

    first = start(tmp_path)
    assert any(call.startswith("-m pip install") for call in first)
    assert start(tmp_path) == ["-m chatstate run"]

    with (tmp_path / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# a dependency changed\n")
    assert any(call.startswith("-m pip install") for call in start(tmp_path))
