"""Scenario models of the network: cloud regions, backhauls, cells and depot WiFi.

Defaults of each technology (per-vehicle rates, cell capacity, latency, jitter, loss,
handovers, radio power) come from ``hardware_models/network/<technology>.yaml``, each
figure with its source; a cell or depot may override its shared capacity. Technology ids
are checked against the catalog (``scenario.references``), like device ids.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from fleetsim.scenario.base import Strict, _unique_names
from fleetsim.scenario.placement import MecServer
from fleetsim.scenario.types import DataRate, Duration, Name, NonNegativeDuration


class Backhaul(Strict):
    """The wired path from access networks to a cloud region."""

    name: Name = Field(description="Backhaul name, referred to by cells and depots.")
    region: Name = Field("cloud", description="Cloud region it leads to (network.regions).")
    uplink_capacity: DataRate | None = Field(
        None, description="Capacity towards the cloud, shared by every flow crossing it; omitted: unlimited.")
    downlink_capacity: DataRate | None = Field(
        None, description="Capacity from the cloud; omitted: unlimited.")
    latency: NonNegativeDuration = Field("0 s", description="One-way delay from the core to the region.")
    source: str = Field(min_length=1, description="Where the capacities and latency come from.")


class AccessNetwork(Strict):
    """What cells and depots share: a backhaul and capacities their vehicles share."""

    backhaul: Name = Field(description="Backhaul it connects to (network.backhauls).")
    uplink_capacity: DataRate | None = Field(
        None, description="Uplink capacity its vehicles share; default: the technology's.")
    downlink_capacity: DataRate | None = Field(
        None, description="Downlink capacity its vehicles share; default: the technology's.")
    source: str = Field("", description="Where overridden capacities come from.")


class Cell(AccessNetwork):
    """A cellular cell whose capacity the vehicles it serves share."""

    name: Name = Field(description="Cell name, referred to by route legs (world.routes[].legs[].cell).")
    technology: Name = Field(
        description="Radio technology: a hardware_models/network/<technology>.yaml with access: cell "
        "(shipped: lte, nr_sub6, nr_mmwave).")


class Depot(AccessNetwork):
    """A depot whose access network (WiFi by default) serves the vehicles parked there."""

    name: Name = Field(description="Depot name, referred to by route stops (world.routes[].legs[].depot).")
    technology: Name = Field(
        "wifi", description="Its technology: a hardware_models/network/<technology>.yaml with access: "
        "depot (shipped: wifi).")


class RateTraces(Strict):
    """Mahimahi traces that replace a technology's per-vehicle rate distribution."""

    technology: Name = Field(description="Technology they drive (hardware_models/network/<technology>.yaml).")
    uplink: str | None = Field(
        None, description="Uplink trace file (one millisecond timestamp per 1500-byte delivery "
        "opportunity), relative to the scenario; each vehicle reads it from its own offset.")
    downlink: str | None = Field(None, description="Downlink trace file, same format.")
    source: str = Field(min_length=1, description="Where the traces were recorded.")


class Network(Strict):
    """Cloud regions, backhauls and access networks; vehicles attach along their routes."""

    regions: list[Name] = Field(["cloud"], min_length=1, description="Cloud regions.")
    backhauls: Annotated[list[Backhaul], _unique_names("backhaul")] = Field(
        min_length=1, description="Backhauls from access networks to regions.")
    cells: Annotated[list[Cell], _unique_names("cell")] = Field([], description="Cellular cells.")
    depots: Annotated[list[Depot], _unique_names("depot")] = Field([], description="Depots with WiFi.")
    mec: Annotated[list[MecServer], _unique_names("MEC server")] = Field(
        [], description="Roadside MEC servers detecting offloaded frames (fleet.groups[].placement: mec).")
    traces: list[RateTraces] = Field(
        [], description="Rate traces per technology, instead of its drive-test distribution.")
    rate_interval: Duration = Field(
        "1 s", description="How often each vehicle's achievable radio rate is redrawn (drive tests "
        "report per-second rates).")
