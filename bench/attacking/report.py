"""One line per scenario: item, short name, HELD / NOT HELD, and the evidence."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

HELD, NOT_HELD, SKIPPED = "HELD", "NOT HELD", "SKIPPED"


@dataclass
class Outcome:
    """What one scenario found."""

    item: str  # "2.3": item 2 of issue 13, its third scenario
    name: str
    verdict: str = HELD
    evidence: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def held(self) -> bool:
        """False only when the attack worked (or the replay could not be made)."""
        return self.verdict != NOT_HELD

    def line(self) -> str:
        """The printed line."""
        evidence = "; ".join(self.evidence)
        return f"{self.item:<5} {self.name:<44} {self.verdict:<8} {self.seconds:>5.1f}s  {evidence}"


class Scenario:
    """Collects the checks of one scenario: each failed check makes it NOT HELD."""

    def __init__(self, item: str, name: str) -> None:
        self.outcome = Outcome(item, name)

    def note(self, text: str) -> None:
        """Evidence that is not itself a check."""
        self.outcome.evidence.append(text)

    def check(self, held: bool, evidence: str) -> bool:
        """Record evidence; `held` False marks the scenario NOT HELD and the evidence '!'."""
        if not held:
            self.outcome.verdict = NOT_HELD
            evidence = f"!{evidence}"
        self.outcome.evidence.append(evidence)
        return held

    def skip(self, why: str) -> None:
        """The scenario could not run here (a missing browser, say)."""
        self.outcome.verdict = SKIPPED
        self.outcome.evidence.append(why)


class Report:
    """Every outcome of a run, printed as it comes."""

    def __init__(self, echo: Callable[[str], None] | None = print) -> None:
        self.outcomes: list[Outcome] = []
        self.echo = echo

    @contextmanager
    def scenario(self, item: str, name: str) -> Iterator[Scenario]:
        """A scenario; an unexpected exception makes it NOT HELD with the error as evidence
        (a replay that cannot be made proves nothing)."""
        scenario = Scenario(item, name)
        started = time.monotonic()
        try:
            yield scenario
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            scenario.check(
                False,
                f"replay error {type(exc).__name__}: {str(exc)[:300]} "
                f"(at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})",
            )
        scenario.outcome.seconds = time.monotonic() - started
        self.outcomes.append(scenario.outcome)
        if self.echo:
            self.echo(scenario.outcome.line())

    @property
    def all_held(self) -> bool:
        """True when no scenario was NOT HELD."""
        return all(outcome.held for outcome in self.outcomes)
