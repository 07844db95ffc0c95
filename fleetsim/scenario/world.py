"""Scenario models of the world: frame size, regions and conditions over time."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from fleetsim.scenario.base import Strict, _unique_names
from fleetsim.scenario.types import Duration, Length, Name, NonNegativeDuration, Resolution, Speed

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


class Drive(Strict):
    """A stretch of road driven at a steady speed, served by one cell or by none."""

    union_tag: ClassVar[str] = "drive"

    length: Length = Field(description="Length of the stretch, e.g. '2 km'.")
    speed: Speed = Field(description="Driving speed, e.g. '50 km/h'.")
    cell: Name | None = Field(
        None, description="Cell serving the stretch (network.cells); omitted: a coverage gap "
        "(tunnel, rural stretch) where nothing is sent or received.")


class Stop(Strict):
    """A stop at a depot, whose WiFi serves the vehicle while it is parked."""

    union_tag: ClassVar[str] = "stop"

    depot: Name = Field(description="Depot where the vehicle parks (network.depots).")
    duration: Duration = Field(description="How long it stays, e.g. '20 min'.")


def _leg_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "stop" if "depot" in value or "duration" in value else "drive"
    return "stop" if isinstance(value, Stop) else "drive"


Leg = Annotated[Annotated[Drive, Tag("drive")] | Annotated[Stop, Tag("stop")], Discriminator(_leg_kind)]


class Route(Strict):
    """A loop of legs that vehicles drive over and over, each from its own starting point."""

    name: Name = Field(description="Route name, referred to by fleet.groups[].route.")
    legs: list[Leg] = Field(min_length=1, description="Drives ({length, speed, cell}) and depot stops "
                            "({depot, duration}), in order; the last leads back to the first.")


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
    routes: Annotated[list[Route], _unique_names("route")] = Field(
        [], description="Routes vehicle groups drive (fleet.groups[].route).")
    kind: Literal["synthetic"] = Field("synthetic", description="World generator (synthetic road scenes).")
