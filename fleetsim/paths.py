"""Where the project's data folders are, for code and notebooks that run from anywhere."""

from __future__ import annotations

from pathlib import Path

from fleetsim.errors import UnknownNameError
from fleetsim.scenario.references import unknown_name_message

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def scenario_file(name: str) -> Path:
    """Path of ``scenarios/<name>.yaml``, e.g. ``scenario_file("quickstart")``."""
    path = PROJECT_ROOT / "scenarios" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (PROJECT_ROOT / "scenarios").glob("*.yaml"))
        raise UnknownNameError(unknown_name_message("scenario", name, known))
    return path
