"""Errors a user can cause, each rendered as one clear message by the CLI."""

from __future__ import annotations

from dataclasses import dataclass


class FleetsimError(Exception):
    """Base of every error caused by user input (files, names, values)."""


@dataclass(frozen=True)
class Issue:
    """One problem in an input file: where it is and what is wrong."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return _printable(text)


def _printable(text: str) -> str:
    """``text`` on one line: control and other unprintable characters (e.g. from a key) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


MAX_SHOWN = 20
"""Issues a ScenarioError's message lists; the rest are counted."""


class ScenarioError(FleetsimError):
    """A scenario (or hardware file) that failed validation; holds every issue found."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        lines = [str(i) for i in issues[:MAX_SHOWN]]
        if len(issues) > MAX_SHOWN:
            lines.append(f"{issues[MAX_SHOWN].file}: ... and {len(issues) - MAX_SHOWN} more problems")
        super().__init__("\n".join(lines))


class UnknownNameError(FleetsimError):
    """A name (device, workload, run) that is not in its catalog."""
