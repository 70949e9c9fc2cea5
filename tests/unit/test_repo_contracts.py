"""The commands a new user is told to run are the ones CI runs."""

from __future__ import annotations

import re
import tomllib
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


def test_every_server_module_is_bound_by_a_contract() -> None:
    # lint-imports checks only the modules a contract names: a new package or module under
    # server/ (say server/api/) would be bound by nothing until it is placed.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}
    layers = contracts["layers"]["layers"]
    placed = {part.strip() for layer in layers for part in re.split(r"[|:]", layer)}
    placed |= set(contracts["helpers-import-no-layer"]["source_modules"])
    placed |= set(contracts["store-behind-services"]["allowed_importers"])  # the wiring
    found = {f"server.{path.parent.name}" for path in (ROOT / "server").glob("*/__init__.py")}
    found |= {f"server.{path.stem}" for path in (ROOT / "server").glob("*.py")}
    assert found - {"server.__init__"} <= placed, sorted(found - placed - {"server.__init__"})
