"""The commands a new user is told to run are the ones CI runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Packages under server/ that serve every layer and import no layer (docs/architecture.md).
HELPERS = {"server.security"}


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


def _recipe(makefile: str, target: str) -> list[str]:
    """The command lines of one Makefile target."""
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert match, f"no {target} target"
    return [line.strip() for line in match.group(1).splitlines()]


def test_make_test_and_lint_check_the_import_contracts() -> None:
    # The contracts in pyproject.toml only hold if CI runs them: `make test` is what CI runs.
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("test", "lint"):
        assert "$(BIN)/lint-imports" in _recipe(makefile, target), target


def test_every_server_package_is_in_the_layers() -> None:
    # lint-imports checks only the modules a contract names: a new package under server/
    # (say server/api/) would be bound by nothing until it is placed in the layers.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["id"] == "layers")["layers"]
    named = {part.strip() for layer in layers for part in re.split(r"[|:]", layer)}
    packages = {f"server.{path.parent.name}" for path in (ROOT / "server").glob("*/__init__.py")}
    assert packages - HELPERS <= named, sorted(packages - HELPERS - named)
