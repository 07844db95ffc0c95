"""Time to recover from a drift: onsets from the world, majority of the fleet on a coping model."""

from __future__ import annotations

import pandas as pd
import pytest

from fleetsim.metrics.recovery import drift_onsets, recovery_times
from fleetsim.scenario.world import World

SHIPPED = {"day_clear": 0.8, "day_fog": 0.2, "night_clear": 0.0, "day_clear_novel": 0.4}


def test_onsets_are_weather_starts_the_novelty_onset_and_nightfalls():
    world = World.model_validate({"conditions": {
        "diurnal": {"start_clock": "18 h", "sunrise": "6 h", "sunset": "19 h"},
        "weather": [{"weather": "fog", "start": "100 s", "duration": "10 min"},
                    {"weather": "rain", "start": "5 h", "duration": "10 min"}],
        "novelty": {"onset": "300 s"}}})
    assert drift_onsets(world, 2 * 3600.0) == [(100.0, "day_fog"), (300.0, "day_clear_novel"),
                                              (3600.0, "night_clear")]
    night_start = World.model_validate({"conditions": {"diurnal": {"start_clock": "23 h"}}})
    assert drift_onsets(night_start, 86400.0 * 1.5) == [(0.0, "night_clear"), (75600.0, "night_clear")]


def _versions(*rows):
    return pd.DataFrame([{"version": v, "deployed": d, "map50_day_fog": fog, "map50_night_clear": 0.0,
                          "map50_day_clear_novel": 0.4} for v, d, fog in rows])


def _swaps(*rows):
    return pd.DataFrame(rows, columns=["t_swap_s", "vehicle", "to_version"])


def test_recovery_is_when_most_of_the_fleet_runs_a_coping_model():
    versions = _versions((1, True, 0.6), (2, True, 0.3))  # 1 closes the fog gap by 2/3; 2 by 1/6
    swaps = _swaps((150.0, "a", 2), (200.0, "a", 1), (220.0, "b", 1), (260.0, "c", 1), (400.0, "d", 1))
    assert recovery_times([(100.0, "day_fog")], SHIPPED, versions, swaps, 4) == [pytest.approx(160.0)]
    assert recovery_times([(100.0, "day_fog")], SHIPPED, versions, swaps, 6) == [pytest.approx(300.0)]
    assert recovery_times([(500.0, "day_fog")], SHIPPED, versions, swaps, 4) == [0.0]  # already there
    assert recovery_times([(100.0, "night_clear")], SHIPPED, versions, swaps, 4) == [None]


def test_a_rolled_back_or_gated_model_does_not_count():
    versions = _versions((1, False, 0.9), (2, True, 0.9))
    swaps = _swaps((10.0, "a", 2), (20.0, "b", 2), (30.0, "a", 0), (40.0, "c", 2), (50.0, "a", 2))
    assert recovery_times([(0.0, "day_fog")], SHIPPED, versions, swaps, 4) == [pytest.approx(50.0)]
    gated = _swaps((10.0, "a", 1), (20.0, "b", 1), (30.0, "c", 1))
    assert recovery_times([(0.0, "day_fog")], SHIPPED, versions, gated, 4) == [None]
