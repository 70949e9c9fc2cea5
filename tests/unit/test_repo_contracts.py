"""The commands a new user is told to run are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:sh|bash|shell)?\n(.*?)```", readme, re.DOTALL)
    commands = [line.strip() for block in blocks for line in block.splitlines()]
    assert commands[:2] == ["make run", "make test"], "README must show the two commands first"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    run_lines = [
        line.strip()
        for line in ci.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert run_lines[-1] == "make test"


def test_makefile_has_the_two_targets() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)
