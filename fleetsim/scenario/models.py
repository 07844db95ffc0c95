"""The scenario format: strict, frozen pydantic models, one per YAML section.

Every field has a description; ``fleetsim.reference_docs`` turns them into the
scenario reference page. Quantities are written with units in YAML and held as SI
floats (seconds, bytes, bytes/s, watts).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from fleetsim.scenario.base import Strict, _unique_names
from fleetsim.scenario.cloud import Cloud
from fleetsim.scenario.kinds import Kinds
from fleetsim.scenario.network import Network
from fleetsim.scenario.placement import Offload, Placement
from fleetsim.scenario.types import (
    DataSize,
    Duration,
    Fraction,
    Frequency,
    Name,
    Resolution,
)
from fleetsim.scenario.world import World

PRECISION_VARIANTS = {"int8": "int8", "fp16": "fp16", "fp32": "fp32"}
"""The detector variant a group runs at each precision when neither it nor detector.model names one."""


class Simulation(Strict):
    """How long to simulate, with which seed, and how."""

    duration: Duration = Field(description="Simulated time span, e.g. '2 h'.")
    seed: NonNegativeInt = Field(0, description="Root of every random stream in the run.")
    mode: Literal["vectorised", "reference"] = Field(
        "vectorised",
        description="'vectorised' computes frames with numpy in windows between coarse events; "
        "'reference' simulates one SimPy event per frame (slow, for checking).",
    )
    window: Duration = Field(
        "10 s",
        description="Longest stretch of frames the vectorised path computes at once; "
        "bounds memory, never changes results.",
    )


class Camera(Strict):
    """One camera on a vehicle, feeding frames to the vehicle's accelerator."""

    name: Name = Field("front", description="Camera name, unique within its vehicle group.")
    fps: Frequency = Field(description="Frame rate, e.g. '30 Hz'.")
    resolution: Resolution = Field("1920x1080", description="Sensor resolution, WIDTHxHEIGHT.")
    arrivals: Literal["periodic", "poisson"] = Field(
        "periodic",
        description="'periodic': frames every 1/fps from a random phase; "
        "'poisson': exponential gaps with mean 1/fps.",
    )


class RandomSelection(Strict):
    """Keep detected frames at random."""

    kind: Literal["random"] = Field(description="Selection kind.")
    fraction: Fraction = Field(0.05, description="Share of detected frames kept, in (0, 1].")


class LowConfidenceSelection(Strict):
    """Keep the frames the detector was least sure about (uncertainty sampling)."""

    kind: Literal["low_confidence"] = Field(description="Selection kind.")
    uncertainty: Fraction = Field(
        0.6, description="Keep a frame when some detection's uncertainty 1 - abs(2*score - 1) reaches this.")


class ConditionTrigger(Strict):
    """Keep frames seen under chosen conditions (e.g. night or fog)."""

    kind: Literal["condition_trigger"] = Field(description="Selection kind.")
    conditions: list[Literal["day", "dusk", "night", "rain", "fog", "snow", "novel"]] = Field(
        min_length=1, description="A frame is kept when its condition label has any of these parts.")


SELECTION_KINDS = Kinds([RandomSelection, LowConfidenceSelection, ConditionTrigger])
"""Sample selection kinds; ``fleetsim.edge.selection.register_selection`` adds one."""
SampleSelection = SELECTION_KINDS.annotation()


class SampleUploads(Strict):
    """Which detected frames a vehicle keeps as training samples and how it uploads them."""

    selection: SampleSelection = Field(
        default_factory=lambda: RandomSelection(kind="random"),
        description="How detected frames are chosen as samples (kind: random, low_confidence or "
        "condition_trigger).")
    max_rate: Frequency = Field(
        "120 / h", description="Cap on samples one vehicle keeps, e.g. '120 / h' (token bucket).")
    sample_size: DataSize = Field(
        "200 kB",
        description="Bytes one sample occupies on the network (an encoded camera frame, not the "
        "rendered proxy), e.g. '200 kB'.",
    )
    interval: Duration = Field(
        "60 s", description="How often an idle vehicle uploads the samples it has ready."
    )
    batch: PositiveInt | None = Field(
        None, description="Most samples in one upload, highest priority first; omitted: all ready.")
    buffer: DataSize = Field(
        "1 GB", description="On-vehicle storage for samples waiting to upload (a policy choice).")
    eviction: Literal["oldest", "lowest_priority", "newest"] = Field(
        "lowest_priority", description="Which sample a full buffer drops: the oldest, the one the "
        "detector was surest about, or the incoming one. Every eviction is counted.")
    cellular: Literal["all", "urgent", "none"] = Field(
        "all", description="What may go over a metered technology (a cell; metered: true in "
        "hardware_models/network/): every sample, only urgent ones (the rest wait for depot WiFi), or "
        "nothing.")
    urgent_priority: Fraction = Field(
        0.8, description="A sample is urgent when its detection uncertainty reaches this.")


class ThermalThrottling(Strict):
    """The accelerator slows to its sustained speed once it has run hot."""

    after: Duration | None = Field(
        None, description="Time from the start of the run until clocks drop, e.g. '10 min'; "
        "default: the accelerator's thermal.time_to_throttle.")
    sustained_fraction: Fraction | None = Field(
        None, description="Compute speed once throttled, as a share of the unthrottled one; "
        "default: the accelerator's thermal.sustained_fraction.")


class Failures(Strict):
    """Accelerator crashes: exponential up-times, then a fixed repair time."""

    mtbf: Duration = Field(description="Mean time between failures (mean up-time), e.g. '2000 h'.")
    repair: Duration = Field(description="Time a failed accelerator stays down, e.g. '30 min'.")


class Faults(Strict):
    """Optional accelerator faults; frames lost to a failure are counted as frames.failed."""

    thermal_throttling: ThermalThrottling | None = Field(
        None, description="Serve frames captured after the onset at the throttled speed.")
    failures: Failures | None = Field(
        None, description="Fail and repair; frames read out while down, or queued or in service "
        "at the failure, are lost (a frame still in its camera's readout is not).")


class VehicleGroup(Strict):
    """Vehicles that share cameras, accelerator, deadline, route and upload policy."""

    name: Name = Field(description="Group name, used in tables and under summary 'groups'.")
    count: PositiveInt = Field(description="Number of vehicles in the group.")
    cameras: Annotated[list[Camera], _unique_names("camera")] = Field(
        min_length=1, description="Cameras on each vehicle."
    )
    accelerator: str = Field(
        description="Edge hardware model id from hardware_models/ (see 'fleetsim hardware list')."
    )
    host: Name | None = Field(
        None, description="Host computer of an add-on accelerator (a CPU id from hardware_models/edge): "
        "it runs the layers the accelerator cannot and counts in energy and hardware cost; default: the "
        "accelerator's vehicle_host, else its host_cpu.")
    precision: Literal["int8", "fp16", "fp32"] = Field(
        "int8", description="Numeric precision the detector runs at on the accelerator."
    )
    power_mode: Name | None = Field(
        None, description="Operating point of the accelerator, a name in its power_modes (e.g. a Jetson "
        "nvpmodel mode such as mode_7w): its clocks set the speed and its power the energy; default: the "
        "mode the device file states its figures at (its power_mode).")
    variant: str | None = Field(
        None, description="Detector variant the vehicles run: a shipped baseline (int8, fp32, pruned_int8) "
        "or compressed variant (fp16, int8_per_tensor, int8_qat, pruned25_int8, ...; see 'fleetsim "
        "detector frontier') at the group's precision, or a path to an .onnx file; default: "
        "detector.model if the scenario names one, else the variant of the group's precision (int8, "
        "fp16 or fp32).")
    deadline: Duration = Field(
        description="Per-frame latency budget from capture to detections, e.g. '100 ms'."
    )
    queue_capacity: NonNegativeInt = Field(
        2,
        description="Frames that may wait for the accelerator; a frame arriving to a full "
        "queue is dropped.",
    )
    route: Name | None = Field(
        None, description="Route the vehicles drive (world.routes), each from its own starting point.")
    cell: Name | None = Field(
        None, description="For parked vehicles instead of a route: the cell (network.cells) or depot "
        "(network.depots) that serves them throughout.")
    region: Name = Field("default", description="Region the vehicles drive in (world.regions).")
    uploads: SampleUploads = Field(
        default_factory=SampleUploads, description="Sample selection and upload."
    )
    faults: Faults = Field(default_factory=Faults, description="Accelerator faults (none by default).")
    placement: Placement = Field(
        "onboard", description="Where frames are detected: 'onboard' (the vehicle's accelerator), 'mec' "
        "(the roadside server of the serving cell, network.mec) or 'cloud' (cloud.inference).")
    offload: Offload = Field(default_factory=Offload, description="Frames sent for remote detection "
                             "(placement mec or cloud).")

    @model_validator(mode="after")
    def _one_place(self) -> VehicleGroup:
        if (self.route is None) == (self.cell is None):
            raise ValueError("give exactly one of route or cell (allowed: route: NAME from "
                             "world.routes, or cell: NAME of a cell or depot for parked vehicles)")
        return self



class Fleet(Strict):
    """The vehicles, in groups."""

    groups: Annotated[list[VehicleGroup], _unique_names("group")] = Field(
        min_length=1, description="Vehicle groups."
    )



class Detector(Strict):
    """The object detector the fleet runs: the real model and the workload the hardware costs."""

    workload: str | None = Field(
        None,
        description="Workload id from hardware_models/workloads/ the hardware models cost per frame "
        "(e.g. a production-sized ssd_mobilenet_v2_300); when omitted, the graph of each group's variant.",
    )
    model: str | None = Field(
        None,
        description="Variant every group runs unless it names its own (fleet.groups[].variant): a "
        "shipped baseline or compressed variant or a path to an .onnx file; omitted: each group runs "
        "the variant of its precision (int8, fp16 or fp32).")
    detect_every: PositiveInt = Field(
        300, description="Really render and detect 1 in this many frames of each camera.")
    batch_size: PositiveInt = Field(256, description="Frames per ONNX Runtime call.")
    threads: PositiveInt = Field(2, description="ONNX Runtime and rendering threads.")
    score_threshold: Fraction = Field(
        0.3, description="A detection at or above this score counts as found (true or false positive).")


class Outputs(Strict):
    """What a run writes besides summary.json."""

    window: Duration = Field(
        "60 s", description="Width of the per-vehicle time windows in the vehicle_windows table."
    )
    accuracy_window: Duration = Field(
        "10 min", description="Width of the time windows of the accuracy_windows table."
    )
    frame_table: bool = Field(
        False, description="Also write one row per frame (large: fps x vehicles x duration rows)."
    )
    plots: bool = Field(True, description="Write PNG plots.")


class Scenario(Strict):
    """A complete fleetsim scenario."""

    name: Name = Field(description="Scenario name.")
    description: str = Field("", description="Free text shown in reports.")
    simulation: Simulation = Field(description="Duration, seed, mode.")
    fleet: Fleet = Field(description="Vehicle groups.")
    network: Network = Field(description="Regions, backhauls, cells and depots.")
    cloud: Cloud = Field(description="Clusters and retraining policy.")
    detector: Detector = Field(default_factory=Detector, description="Detector model and costed workload.")
    world: World = Field(default_factory=World, description="Rendered frames and conditions over time.")
    outputs: Outputs = Field(default_factory=Outputs, description="What a run writes.")

    def variant_of(self, group: VehicleGroup) -> str:
        """The detector variant ``group`` runs: its own ``variant``, else ``detector.model``, else
        the variant of its precision (``PRECISION_VARIANTS``)."""
        return group.variant or self.detector.model or PRECISION_VARIANTS[group.precision]

    def variants(self) -> list[str]:
        """The variants the fleet runs, each once, in the order of the groups that run them."""
        return list(dict.fromkeys(self.variant_of(g) for g in self.fleet.groups))
