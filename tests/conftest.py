"""Shared fixtures: a small scenario as data, and a helper to override its fields."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from fleetsim.hardware.catalog import load_catalog
from fleetsim.scenario.models import Scenario

ROOT = Path(__file__).resolve().parents[1]


def small_scenario_data() -> dict:
    """A two-group fleet of a few vehicles for a few simulated minutes."""
    return {
        "name": "small",
        "simulation": {"duration": "10 min", "seed": 3},
        "fleet": {"groups": [
            {"name": "coral", "count": 3, "accelerator": "coral_usb", "deadline": "50 ms",
             "route": "loop", "region": "town", "cameras": [{"name": "front", "fps": "30 Hz"},
                                        {"name": "rear", "fps": "15 Hz", "arrivals": "poisson"}],
             "uploads": {"selection": {"kind": "random", "fraction": 0.5}, "sample_size": "200 kB",
                         "interval": "30 s"}},
            {"name": "rpi", "count": 2, "accelerator": "rpi4_cpu", "deadline": "200 ms",
             "cell": "town_lte", "queue_capacity": 1, "region": "ring", "cameras": [{"fps": "10 Hz"}],
             "uploads": {"selection": {"kind": "low_confidence"}, "interval": "45 s"}},
        ]},
        "network": {
            "backhauls": [{"name": "core", "source": "test values"}],
            "cells": [{"name": "town_lte", "technology": "lte", "backhaul": "core",
                       "uplink_capacity": "5 Mbit/s", "source": "test values"}],
            "depots": [{"name": "yard", "backhaul": "core"}]},
        "cloud": {
            "clusters": [{"name": "gpus", "device": "a100", "chips": 1, "startup": "30 s",
                          "source": "test values"}],
            "retraining": {"kind": "periodic", "interval": "2 min", "cluster": "gpus",
                           "min_samples": 5},
        },
        "detector": {"detect_every": 60, "workload": "ssd_mobilenet_v2_300"},
        "world": {"regions": ["town", "ring"], "routes": [{"name": "loop", "legs": [
            {"length": "3 km", "speed": "36 km/h", "cell": "town_lte"},
            {"length": "300 m", "speed": "36 km/h"},
            {"depot": "yard", "duration": "1 min"}]}], "conditions": {
            "diurnal": {"start_clock": "1170 min", "sunset": "20 h"},
            "weather": [{"weather": "fog", "start": "4 min", "duration": "3 min", "regions": ["ring"]}]}},
        "outputs": {"window": "30 s", "accuracy_window": "2 min", "frame_table": True, "plots": False},
    }


def with_overrides(data: dict, **dotted: object) -> dict:
    """Copy of ``data`` with ``a__b__0__c=value`` style overrides applied."""
    out = copy.deepcopy(data)
    for key, value in dotted.items():
        parts = [int(p) if p.isdigit() else p for p in key.split("__")]
        node = out
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    return out


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture
def small_data() -> dict:
    return small_scenario_data()


@pytest.fixture
def small_scenario() -> Scenario:
    return Scenario.model_validate(small_scenario_data())


def write_yaml(tmp_path: Path, data: object, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
