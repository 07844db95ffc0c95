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
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(FleetsimError):
    """A scenario (or hardware file) that failed validation; holds every issue found."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class UnknownNameError(FleetsimError):
    """A name (device, workload, run) that is not in its catalog."""
