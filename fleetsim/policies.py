"""Python policies: the decisions a user's own code may take, what it sees and what it returns.

Each decision is a small protocol. A policy sees a frozen, read-only observation and
returns a typed action; anything else is a ``PolicyError`` naming the policy and the
allowed values. Policies are passed to ``fleetsim.run(scenario, policies={...})`` by
decision name (``DECISIONS``); the scenario file still names only built-in or registered
kinds (configuration never imports code), and a Python policy replaces the decision of the
kind the scenario names for that run only. The built-in policies implement the same
protocols (``fleetsim.cloud.policy``, ``fleetsim.cloud.rollout``, ``fleetsim.edge.uploads``,
``fleetsim.edge.selection``, ``fleetsim.edge.placing``).

>>> class EveryHundred:                                    # doctest: +SKIP
...     check_every_s = 300.0
...     def decide(self, obs: RetrainingObservation) -> Retraining:
...         return Retraining.TRAIN if obs.new_samples >= 100 else Retraining.WAIT
>>> fleetsim.run(scenario, policies={"retraining": EveryHundred()})   # doctest: +SKIP
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from fleetsim.errors import FleetsimError


class PolicyError(FleetsimError):
    """A Python policy returned an action its decision does not allow, or cannot be used."""


class Retraining(enum.Enum):
    """The retraining decision: start a job now (within the daily budget) or wait."""

    WAIT = "wait"
    TRAIN = "train"


class Placement(enum.Enum):
    """The placement decision: where a group's frames captured from now on are detected."""

    ONBOARD = "onboard"
    MEC = "mec"
    CLOUD = "cloud"


class Canary(enum.Enum):
    """The canary decision: roll the version out to the rest of the fleet, or roll it back."""

    FLEET = "fleet"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class UploadAction:
    """The upload decision of one vehicle at one upload tick: whether to send, and what.

    ``min_priority`` sends only samples at least that urgent (their selection uncertainty);
    ``limit`` caps how many (None: all ready ones).
    """

    send: bool = True
    min_priority: float = -math.inf
    limit: int | None = None


HOLD = UploadAction(send=False)
"""Send nothing at this tick."""


@dataclass(frozen=True)
class RetrainingObservation:
    """What a retraining policy sees at a check: the cloud's pool, the fleet's queues, spend, time.

    Counts are of the labelled pool the jobs train on (``samples_by_condition``: retained
    labelled samples by condition label, e.g. ``day/clear``); queue figures are as of the
    fleet's last update (reading them moves nothing), and so are ``confidence`` (mean top
    detection score) and ``map50`` (against ground truth) over the frames captured in the last
    ``outputs.accuracy_window`` (NaN: none detected yet; measured for Python policies, the
    built-in triggers do not read them). ``signal(kind, t0, t1)`` is the fleet's
    accuracy signal (``"map50"`` or ``"confidence"``) over frames captured in [t0, t1) and
    detected by now; it brings the fleet's detection up to now, which moves when samples
    are selected, so a policy that calls it changes the run it observes.
    """

    t_s: float
    horizon_s: float
    new_samples: int
    retained_samples: int
    samples_by_condition: Mapping[str, int]
    labels_pending: int
    samples_on_vehicles: int
    samples_in_flight: int
    vehicles_connected: int
    vehicles_metered: int
    vehicles: int
    jobs_started: int
    jobs_pending: int
    models_released: int
    last_release_s: float
    training_usd: float
    training_energy_j: float
    labelling_usd: float
    confidence: float
    map50: float
    signal: Callable[[str, float, float], float] = field(repr=False, compare=False)


@dataclass(frozen=True)
class CanaryObservation:
    """What a canary policy sees when the canary period of ``version`` ends."""

    version: int
    t_release_s: float
    t_s: float
    signal: str
    canary_score: float
    fleet_score: float
    canary_vehicles: int
    fleet_vehicles: int


@dataclass(frozen=True)
class UploadObservation:
    """What an upload policy sees at one vehicle's upload tick (it has a network now)."""

    vehicle: str
    group: str
    t_s: float
    technology: str
    metered: bool
    samples_on_vehicle: int


@dataclass(frozen=True)
class PlacementObservation:
    """What a placement policy sees for one vehicle group's frame stream at a decision.

    ``options`` are the placements the scenario makes possible for the group (onboard always;
    mec with a ``network.mec`` server on one of its cells; cloud with ``cloud.inference``).
    Queue figures count frames waiting or in service at ``t_s`` over the group's vehicles
    (``onboard_queue``: their accelerators; ``send_queue``: their offload send queues) and, per
    remote site by name, frames sent there and not yet served (every group's).
    ``vehicles_connected`` have a network now and ``vehicles_near_mec`` a cell with a MEC
    server. The latency figures are of the group's frames finished since the last decision:
    ``latency_s`` their mean capture-to-result time (NaN: none), ``frames_done`` how many
    were processed and ``frames_lost`` how many were dropped or failed.
    """

    t_s: float
    horizon_s: float
    group: str
    vehicles: int
    placement: Placement
    options: tuple[Placement, ...]
    frames_per_s: float
    frame_size_bytes: float
    onboard_queue: int
    send_queue: int
    remote_queue: Mapping[str, int]
    vehicles_connected: int
    vehicles_near_mec: int
    latency_s: float
    frames_done: int
    frames_lost: int


@dataclass(frozen=True)
class CandidateFrames:
    """The frames of one vehicle just detected, for a selection policy (arrays are read-only).

    ``uncertainty`` and ``confidence`` come from the detector; ``condition`` is each frame's
    condition label (e.g. ``night/fog``); ``camera`` the camera index within its group.
    """

    vehicle: str
    group: str
    capture_s: np.ndarray
    camera: np.ndarray
    confidence: np.ndarray
    uncertainty: np.ndarray
    condition: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.capture_s)


@runtime_checkable
class RetrainingPolicy(Protocol):
    """When to start a training job; asked every ``check_every_s`` seconds of the run."""

    check_every_s: float

    def decide(self, obs: RetrainingObservation) -> Retraining: ...


@runtime_checkable
class CanaryPolicy(Protocol):
    """Whether a version that ran on the canary vehicles goes to the rest of the fleet."""

    def decide(self, obs: CanaryObservation) -> Canary: ...


@runtime_checkable
class UploadPolicy(Protocol):
    """Whether and what one vehicle uploads at one upload tick."""

    def decide(self, obs: UploadObservation) -> UploadAction: ...


@runtime_checkable
class PlacementPolicy(Protocol):
    """Where each vehicle group detects its frames; asked for every group at the start of the
    run and then every ``decide_every_s`` seconds (``math.inf``: once)."""

    decide_every_s: float

    def decide(self, obs: PlacementObservation) -> Placement: ...


@runtime_checkable
class SelectionPolicy(Protocol):
    """Which of a vehicle's detected frames it keeps as samples: indices, most wanted first."""

    def select(self, frames: CandidateFrames) -> np.ndarray: ...


DECISIONS: dict[str, type] = {
    "retraining": RetrainingPolicy,
    "canary": CanaryPolicy,
    "uploads": UploadPolicy,
    "selection": SelectionPolicy,
    "placement": PlacementPolicy,
}
"""The decisions a Python policy may take, by the name ``fleetsim.run(policies=...)`` uses."""


def name_of(policy: object) -> str:
    return type(policy).__name__


def checked_policies(policies: Mapping[str, object] | None) -> dict[str, object]:
    """``policies`` after checking each names a decision and implements its protocol."""
    out = dict(policies or {})
    for decision, policy in out.items():
        if decision not in DECISIONS:
            raise PolicyError(f"policies: unknown decision {decision!r} "
                              f"(allowed: {', '.join(repr(d) for d in DECISIONS)})")
        protocol = DECISIONS[decision]
        if not isinstance(policy, protocol):
            wanted = {"retraining": "check_every_s and decide(obs)", "selection": "select(frames)",
                      "placement": "decide_every_s and decide(obs)"}.get(decision, "decide(obs)")
            raise PolicyError(f"policies[{decision!r}]: {name_of(policy)} does not implement "
                              f"{protocol.__name__} (needs {wanted})")
    if "retraining" in out:
        every = out["retraining"].check_every_s
        if not (isinstance(every, int | float) and every > 0 and math.isfinite(every)):
            raise PolicyError(f"policies['retraining']: {name_of(out['retraining'])}.check_every_s is "
                              f"{every!r} (allowed: a positive number of seconds)")
    if "placement" in out:
        every = out["placement"].decide_every_s
        if not (isinstance(every, int | float) and every > 0 and not math.isnan(every)):
            raise PolicyError(f"policies['placement']: {name_of(out['placement'])}.decide_every_s is "
                              f"{every!r} (allowed: a positive number of seconds, or math.inf for once)")
    return out


def checked_action(policy: object, action: object, allowed: type[enum.Enum]) -> enum.Enum:
    """``action`` if it is a member of ``allowed``; else a one-line ``PolicyError``."""
    if isinstance(action, allowed):
        return action
    members = ", ".join(f"{allowed.__name__}.{m.name}" for m in allowed)
    raise PolicyError(f"policy {name_of(policy)} returned {action!r} (allowed: {members})")


def checked_placement(policy: object, action: object, obs: PlacementObservation) -> Placement:
    """``action`` if it is one of the group's placement options; else a one-line ``PolicyError``."""
    if action in obs.options:
        return action
    allowed = ", ".join(f"Placement.{p.name}" for p in obs.options)
    raise PolicyError(f"policy {name_of(policy)} returned {action!r} for group {obs.group!r} "
                      f"(allowed: {allowed})")


def checked_upload(policy: object, action: object) -> UploadAction:
    """``action`` if it is a valid ``UploadAction``; else a one-line ``PolicyError``."""
    if isinstance(action, UploadAction) and (action.limit is None or (
            isinstance(action.limit, int) and action.limit >= 0)) and not math.isnan(action.min_priority):
        return action
    raise PolicyError(f"policy {name_of(policy)} returned {action!r} (allowed: an UploadAction with "
                      f"limit None or >= 0 and a min_priority that is a number, or HOLD)")


def checked_selection(policy: object, picked: object, frames: CandidateFrames) -> np.ndarray:
    """``picked`` as distinct integer indices into ``frames``; else a one-line ``PolicyError``."""
    array = np.asarray(picked)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if (array.ndim == 1 and np.issubdtype(array.dtype, np.integer) and array.min() >= 0
            and array.max() < len(frames) and len(np.unique(array)) == len(array)):
        return array.astype(np.int64)
    raise PolicyError(f"policy {name_of(policy)} returned {picked!r} (allowed: distinct integer indices "
                      f"0..{len(frames) - 1} of the candidate frames, most wanted first)")
