"""Sample selection policies: which detected frames a vehicle keeps for retraining.

Each policy returns the candidate rows in priority order; the caller keeps as many as
the vehicle's rate cap allows. ``random`` keeps a share of frames (a counter-based draw
per frame, so it does not depend on batching), ``low_confidence`` keeps the frames with
an ambiguous detection, most ambiguous first, and ``condition_trigger`` keeps frames
seen under chosen conditions (night, fog, novel objects, ...).

A user's Python ``fleetsim.policies.SelectionPolicy`` (``fleetsim.run(policies={"selection":
...})``) takes the kind's place on every vehicle: it sees the frames as ``CandidateFrames``
(read-only arrays) and returns their indices, most wanted first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fleetsim.policies import CandidateFrames, checked_selection
from fleetsim.rng import counter_uniform
from fleetsim.scenario.base import Strict
from fleetsim.scenario.models import (
    SELECTION_KINDS,
    ConditionTrigger,
    LowConfidenceSelection,
    RandomSelection,
)
from fleetsim.world import Conditions
from fleetsim.world.conditions import TIMES_OF_DAY, WEATHERS

Selection = Callable[..., np.ndarray]
"""(policy, vehicle, record, conditions, rows) -> indices into ``rows`` of the frames wanted, best first."""


def _random(policy: RandomSelection, vehicle, record: dict[str, np.ndarray], conditions: Conditions,
            rows: np.ndarray) -> np.ndarray:
    draw = counter_uniform(vehicle.selection_key, record["counter"][rows] * 64 + record["camera"][rows])
    return np.flatnonzero(draw < policy.fraction)


def _low_confidence(policy: LowConfidenceSelection, vehicle, record: dict[str, np.ndarray],
                    conditions: Conditions, rows: np.ndarray) -> np.ndarray:
    uncertainty = record["uncertainty"][rows]
    keep = np.flatnonzero(uncertainty >= policy.uncertainty)
    return keep[np.argsort(-uncertainty[keep], kind="stable")]


def _condition_trigger(policy: ConditionTrigger, vehicle, record: dict[str, np.ndarray],
                       conditions: Conditions, rows: np.ndarray) -> np.ndarray:
    return np.flatnonzero(matches_condition(conditions.take(rows), policy.conditions))


SELECTIONS: dict[str, Selection] = {
    "random": _random,
    "low_confidence": _low_confidence,
    "condition_trigger": _condition_trigger,
}
"""Selection policies by ``kind``."""


def register_selection(model: type[Strict], select: Selection) -> None:
    """Add a selection policy: ``model`` (with a ``kind`` literal) becomes an allowed
    ``fleet.groups[].uploads.selection``, ``select`` picks its frames."""
    SELECTIONS[SELECTION_KINDS.register(model)] = select


def candidates(policy, vehicle, record: dict[str, np.ndarray], conditions: Conditions,
               rows: np.ndarray) -> np.ndarray:
    """Indices into ``rows`` of the frames ``policy`` (or the vehicle's Python policy) wants, best first."""
    if vehicle.selection is not None:
        return python_candidates(vehicle.selection, vehicle, record, conditions, rows)
    return SELECTIONS[policy.kind](policy, vehicle, record, conditions, rows)


def python_candidates(policy, vehicle, record: dict[str, np.ndarray], conditions: Conditions,
                      rows: np.ndarray) -> np.ndarray:
    """Ask a user's ``SelectionPolicy`` about ``rows``; check what it returns."""
    arrays = {}
    for name in ("capture_s", "camera", "confidence", "uncertainty"):
        arrays[name] = record[name][rows]
        arrays[name].flags.writeable = False
    frames = CandidateFrames(vehicle=vehicle.name, group=vehicle.spec.name,
                             condition=tuple(conditions.take(rows).labels()), **arrays)
    return checked_selection(policy, policy.select(frames), frames)


def matches_condition(conditions: Conditions, parts: list[str]) -> np.ndarray:
    """Whether each frame's condition has any of ``parts`` (time of day, weather or 'novel')."""
    time_of_day = conditions.time_of_day()
    weather = conditions.weather_seen()
    hit = np.zeros(len(conditions), dtype=bool)
    for part in parts:
        if part in TIMES_OF_DAY:
            hit |= time_of_day == TIMES_OF_DAY.index(part)
        elif part in WEATHERS:
            hit |= weather == WEATHERS.index(part)
        elif part == "novel":
            hit |= conditions.novelty > 0
    return hit
