"""Dotted override paths into a scenario's raw YAML data, and applying them.

A path names one place in the scenario file: mapping keys joined by dots, list
entries by ``[i]`` or by a bare number, so ``fleet.groups[0].cameras[0].fps`` and
``fleet.groups.0.cameras.0.fps`` are the same path. Overrides are applied to the
YAML data *before* validation, so a value is written as in a scenario file
(``"15 Hz"``, ``"2 min"``) and is then checked like any other field.

Every step of a path but the last must exist in the base scenario; the last may be
a new key of an existing mapping (a field left at its default), which the scenario
schema then accepts or rejects by name.

>>> data = {"fleet": {"groups": [{"count": 4}]}}
>>> apply_overrides(data, {"fleet.groups.0.count": 8})["fleet"]["groups"][0]["count"]
8
>>> canonical("fleet.groups.0.count")
'fleet.groups[0].count'
"""

from __future__ import annotations

import copy
import re
from typing import Any

_SEGMENT = re.compile(r"^([^\[\]]*)((?:\[\d+\])*)$")


class OverrideError(ValueError):
    """An override path that is malformed or leads nowhere in the base scenario."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.path = path


def parse_path(path: str) -> tuple[str | int, ...]:
    """``"fleet.groups[0].count"`` -> ``("fleet", "groups", 0, "count")``."""
    if not isinstance(path, str) or not path.strip():
        raise OverrideError("an override path must be a non-empty dotted path, e.g. fleet.groups[0].count")
    parts: list[str | int] = []
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        if match is None or (not match.group(1) and not match.group(2)):
            raise OverrideError(f"malformed path {path!r} (expected keys joined by dots, list entries "
                                f"as [i] or .i, e.g. fleet.groups[0].count)")
        key, indexes = match.group(1), match.group(2)
        if key:
            parts.append(int(key) if key.isdigit() else key)
        parts += [int(i) for i in re.findall(r"\d+", indexes)]
    return tuple(parts)


def canonical(path: str) -> str:
    """The one spelling of a path used for table columns: ``a.b[0].c``."""
    out = ""
    for part in parse_path(path):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _show(parts: tuple) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def apply_override(data: dict, path: str, value: Any) -> None:
    """Set ``path`` in ``data`` (in place) to a copy of ``value``; OverrideError if it leads nowhere."""
    try:
        parts = parse_path(path)
    except OverrideError as err:
        raise OverrideError(str(err), path) from None
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = _show(parts[:depth])
        if isinstance(node, list):
            if not isinstance(part, int):
                raise OverrideError(f"{path}: {here} is a list; expected an index [0..{len(node) - 1}], "
                                    f"not {part!r}", path)
            if not 0 <= part < len(node):
                raise OverrideError(f"{path}: {here} has {len(node)} entries; index {part} does not exist "
                                    f"(allowed: 0..{len(node) - 1})", path)
        elif isinstance(node, dict):
            key = str(part)
            if key not in node and not last:
                keys = ", ".join(sorted(map(str, node))) or "none"
                raise OverrideError(f"{path}: {_show(parts[:depth + 1])} does not exist in the base "
                                    f"scenario (keys of {here}: {keys})", path)
            part = key
        else:
            raise OverrideError(f"{path}: {here} is a value ({node!r}), not a mapping or list", path)
        if last:
            node[part] = copy.deepcopy(value)
        else:
            node = node[part]


def apply_overrides(data: dict, overrides: dict[str, Any]) -> dict:
    """A deep copy of ``data`` with every override applied in order."""
    out = copy.deepcopy(data)
    for path, value in overrides.items():
        apply_override(out, path, value)
    return out
