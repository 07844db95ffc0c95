"""Scenario models of the world: frame size, regions and conditions over time."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from fleetsim.scenario.base import Strict
from fleetsim.scenario.types import Duration, Name, NonNegativeDuration, Resolution

ShareOrZero = Annotated[float, Field(ge=0, le=1)]


class Diurnal(Strict):
    """The day-night cycle: clock time at the start of the run and the sun's hours."""

    start_clock: NonNegativeDuration = Field(
        "12 h", description="Clock time when the simulation starts, e.g. '18 h' for 6 pm.")
    sunrise: NonNegativeDuration = Field("6 h", description="Clock time of sunrise.")
    sunset: NonNegativeDuration = Field("20 h", description="Clock time of sunset.")

    @model_validator(mode="after")
    def _order(self) -> Diurnal:
        if not self.sunrise < self.sunset <= 24 * 3600:
            raise ValueError("sunrise must come before sunset, both within 0-24 h")
        if self.start_clock >= 24 * 3600:
            raise ValueError("start_clock must be within 0-24 h")
        return self


class WeatherEvent(Strict):
    """A spell of weather; where events overlap, the one listed last wins."""

    weather: Literal["rain", "fog", "snow"] = Field(description="Kind of weather.")
    start: NonNegativeDuration = Field(description="Simulation time the spell begins, e.g. '30 min'.")
    duration: Duration = Field(description="How long it lasts.")
    intensity: ShareOrZero = Field(
        0.7, description="Strength in [0, 1] (fog: thickness, rain/snow: density).")
    regions: list[Name] | None = Field(
        None, description="Regions it covers (world.regions); all regions when omitted.")


class Novelty(Strict):
    """Objects with unseen colours and shapes start to appear (e.g. a new vehicle type)."""

    onset: NonNegativeDuration = Field(description="Simulation time the new objects appear.")
    level: ShareOrZero = Field(0.5, description="Chance in [0, 1] that an object looks new after the onset.")
    regions: list[Name] | None = Field(None, description="Regions affected; all when omitted.")


class WorldConditions(Strict):
    """How the world looks over time; every rendered frame records its condition."""

    diurnal: Diurnal | None = Field(
        None, description="Day-night cycle; when omitted it is full daylight throughout.")
    weather: list[WeatherEvent] = Field([], description="Weather spells; clear outside them.")
    novelty: Novelty | None = Field(None, description="Onset of unseen objects, if any.")
    noise: ShareOrZero = Field(0.05, description="Sensor noise in [0, 1] (night adds gain noise on top).")
    blur: ShareOrZero = Field(0.0, description="Motion blur in [0, 1].")


class World(Strict):
    """The rendered world the fleet drives through."""

    @field_validator("frame_size")
    @classmethod
    def _detector_can_see_it(cls, size: tuple[int, int]) -> tuple[int, int]:
        if not all(32 <= side <= 512 and side % 4 == 0 for side in size):
            raise ValueError(f"{size[0]}x{size[1]} is not a usable frame size (allowed: each side a "
                             "multiple of 4 from 32 to 512, the detector's stride and range)")
        return size

    frame_size: Resolution = Field(
        "96x96", description="Size of the rendered proxy frames the detector sees, WIDTHxHEIGHT.")
    regions: list[Name] = Field(
        ["default"], min_length=1, description="Regions vehicle groups drive in (fleet.groups[].region).")
    conditions: WorldConditions = Field(default_factory=WorldConditions, description="Conditions over time.")
    kind: Literal["synthetic"] = Field("synthetic", description="World generator (synthetic road scenes).")
