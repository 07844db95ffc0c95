"""Time to recover: from a drift onset until most of the fleet runs a model that copes with it.

Drift onsets come from the world's schedule: each weather spell's start, the novelty onset,
and each nightfall (the sun setting, or a run that starts at night). A model copes with a
drift when its held-out mAP@0.5 on the matching evaluation condition closes at least half
of the shipped model's gap between that condition and clear day. Recovery is the first
moment at or after the onset when more than half of the vehicles run such a model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY_S = 86400.0
CONDITION_OF = {"fog": "day_fog", "rain": "day_rain", "snow": "day_snow"}
RECOVERED_SHARE = 0.5
"""Share of the shipped model's gap to clear day a model must close to count as recovering."""


def drift_onsets(world, duration_s: float) -> list[tuple[float, str]]:
    """(time, evaluation condition) of every drift that starts within the run."""
    conditions = world.conditions
    onsets = [(e.start, CONDITION_OF[e.weather]) for e in conditions.weather if e.start < duration_s]
    if conditions.novelty is not None and conditions.novelty.onset < duration_s:
        onsets.append((conditions.novelty.onset, "day_clear_novel"))
    diurnal = conditions.diurnal
    if diurnal is not None:
        clock = diurnal.start_clock
        if clock >= diurnal.sunset or clock < diurnal.sunrise:
            onsets.append((0.0, "night_clear"))
        t = (diurnal.sunset - clock) % DAY_S
        while t < duration_s:
            if t > 0:
                onsets.append((t, "night_clear"))
            t += DAY_S
    return sorted(onsets)


def recovery_times(onsets: list[tuple[float, str]], shipped: dict[str, float], versions: pd.DataFrame,
                   swaps: pd.DataFrame, vehicles: int) -> list[float | None]:
    """Seconds from each onset until most vehicles run a coping model (None: not within the run)."""
    out = []
    for t0, condition in onsets:
        target = shipped[condition] + RECOVERED_SHARE * (shipped["day_clear"] - shipped[condition])
        coping = set()
        if len(versions):
            good = versions["deployed"].astype(bool) & (versions[f"map50_{condition}"] >= target)
            coping = set(versions.loc[good, "version"].astype(int))
        out.append(_majority_after(t0, coping, swaps, vehicles))
    return out


def _majority_after(t0: float, coping: set[int], swaps: pd.DataFrame, vehicles: int) -> float | None:
    running = np.zeros(vehicles, dtype=bool)  # everyone starts on the shipped model (version 0)
    names: dict[str, int] = {}
    events = sorted(zip(swaps["t_swap_s"], swaps["vehicle"], swaps["to_version"], strict=True))
    checked = False
    for t, vehicle, version in events:
        if t >= t0 and not checked:
            checked = True
            if running.sum() > vehicles / 2:
                return 0.0  # most of the fleet already ran a coping model at the onset
        i = names.setdefault(vehicle, len(names))
        running[i] = int(version) in coping
        if t >= t0 and running.sum() > vehicles / 2:
            return float(t - t0)
    if not checked and running.sum() > vehicles / 2:
        return 0.0
    return None
