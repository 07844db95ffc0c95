"""Typed contents of hardware_models/: devices, workloads, calibration points.

Every number in a hardware file is written as ``{value: ..., source: ...}``; a number
without a source does not validate.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import Field, PositiveFloat, model_validator

from fleetsim.scenario.models import Strict
from fleetsim.scenario.types import (
    ComputeRate,
    DataRate,
    DataSize,
    Duration,
    EnergyPerData,
    Fraction,
    Frequency,
    Length,
    Name,
    NonNegativeDuration,
    NonNegativePower,
    Power,
    Price,
    PriceRate,
)

T = TypeVar("T")

Precision = Literal["int8", "fp16", "bf16", "fp32"]


class Sourced(Strict, Generic[T]):
    """A number together with where it was published."""

    value: T = Field(description="The figure, with a unit where it has one.")
    source: str = Field(min_length=3, description="Datasheet, paper or benchmark page.")


class HostLink(Strict):
    """How inputs and outputs reach an accelerator that is not on the host's memory bus."""

    kind: Literal["usb2", "usb3", "pcie", "m2", "soc"] = Field(description="Link type.")
    bandwidth: Sourced[DataRate] = Field(description="Effective host-device transfer rate.")


class CalibrationPoint(Strict):
    """One published measurement of a workload on this device: the latency of one call, or a
    steady-state throughput (pipelined or large-batch runs such as MLPerf Offline)."""

    workload: Name = Field(description="Workload id from hardware_models/workloads/.")
    precision: Precision = Field(description="Precision the measurement ran at.")
    latency: Duration | None = Field(None, description="Published time of one call of `batch` inferences.")
    throughput: Frequency | None = Field(
        None, description="Published steady-state inferences per second (instead of a latency).")
    batch: int | None = Field(
        None, ge=1, description="Inferences per call: of a latency measurement (default 1), or the batch a "
        "throughput was measured at (default: a large batch, fleetsim.hardware.fit.THROUGHPUT_BATCH).")
    host: Name | None = Field(
        None, description="Host CPU device id of this set-up, when it is not the device's host_cpu.")
    scope: Literal["model", "pipeline"] = Field(
        "model", description="'model': the network alone; 'pipeline': also host pre-processing and the "
        "hand-off of the detections (predicted with the frame's host legs).")
    harness: Literal["numpy"] | None = Field(
        None, description="'numpy': a pipeline point timed by a Python script that pre- and post-processes "
        "each frame in numpy on the host CPU (letterbox, decode, NMS), priced per input element by the "
        "fitted numpy_harness instead of the pre-processing leg.")
    sequential: bool = Field(
        False, description="A throughput measured by a loop that waits for each frame's result before it "
        "sends the next, so nothing overlaps and the rate is 1 / latency (default: overlapping calls).")
    raw_outputs: bool = Field(
        False, description="The compiled graph ends at the detection head's raw outputs, so the workload's "
        "nms layer is left out of its prediction: any decode and NMS ran outside it (not at all in a model "
        "timing by the vendor's benchmark tool; in the script of a harness: numpy pipeline point).")
    source: str = Field(min_length=3, description="Where the measurement was published.")
    host_link: HostLink | None = Field(
        None, description="The link of this set-up, when it is not the device's host_link (a USB 3 stick "
        "measured on a USB 2 port).")
    power_mode: Name | None = Field(
        None, description="Operating point this measurement ran in, when it is not the device's power_mode "
        "(a name in its power_modes): the point is fitted and predicted at that mode's clocks.")
    kernel_library: Name | None = Field(
        None, description="Kernel library this measurement ran on, when it is not the one the device's "
        "fit describes (a name in the device's library_speedups at this precision).")
    excluded: str | None = Field(
        None, min_length=3, description="Why this calibration point is kept but not fitted on (its harness "
        "differs from what the model describes, with the evidence); shown by `fleetsim hardware validate`.")

    @model_validator(mode="after")
    def _consistent(self):
        if (self.latency is None) == (self.throughput is None):
            raise ValueError("give exactly one of latency or throughput (allowed: latency: '7.3 ms' "
                             "or throughput: '1036 fps')")
        if self.harness is not None and self.scope != "pipeline":
            raise ValueError("harness describes what a pipeline timing included (allowed: harness only "
                             "with scope: pipeline)")
        if self.raw_outputs and self.scope == "pipeline" and self.harness is None:
            raise ValueError("a pipeline timing at raw outputs decoded and suppressed the detections "
                             "somewhere its harness must say (allowed: raw_outputs on a pipeline point only "
                             "with harness: numpy)")
        if self.harness == "numpy" and not self.raw_outputs:
            raise ValueError("a numpy harness decodes and suppresses the detections itself, so the timed "
                             "graph ends at the raw head outputs (allowed: harness: numpy only with "
                             "raw_outputs: true)")
        return self

    @property
    def seconds_per_inference(self) -> float:
        """Published time per inference: latency / batch, or 1 / throughput."""
        return self.latency / (self.batch or 1) if self.latency is not None else 1 / self.throughput


class LibrarySpeedup(Strict):
    """How much faster another kernel library runs a CPU's conv/matmul layers at one precision than
    the library its fit describes (published, not fitted)."""

    library: Name = Field(description="Kernel library name, as calibration points name it (e.g. 'xnnpack').")
    precision: Precision = Field(description="Precision the speed-up was published for.")
    speedup: Sourced[PositiveFloat] = Field(description="Time with the fitted library / time with this one.")


class PowerMode(Strict):
    """A named operating point of the device (a Jetson nvpmodel mode, or a vendor's power-capped
    benchmark setting): the clocks it caps and the power it draws at them."""

    power: Sourced[Power] = Field(description="Power while computing in this mode (its cap where no "
                                  "measurement exists).")
    gpu_clock: Sourced[Frequency] = Field(description="Maximum accelerator (GPU) clock in this mode.")
    dla_clock: Sourced[Frequency] | None = Field(
        None, description="Maximum clock of the deep-learning accelerators (dla_peak) in this mode; "
        "default: they scale with gpu_clock.")
    memory_clock: Sourced[Frequency] | None = Field(
        None, description="Maximum memory (EMC) clock in this mode; memory_bandwidth scales with it when "
        "the stated mode gives one too.")
    cpu_clock: Sourced[Frequency] | None = Field(
        None, description="Maximum CPU clock in this mode; the call and per-layer overheads (kernel launch "
        "and op dispatch run on the CPU) take longer in proportion when the stated mode gives one too.")


class Thermal(Strict):
    """Sustained-load throttling: after ``time_to_throttle`` at full load the device runs at
    ``sustained_fraction`` of its unthrottled speed."""

    time_to_throttle: Sourced[Duration] = Field(description="Time at full load before clocks drop.")
    sustained_fraction: Sourced[Fraction] = Field(description="Speed kept once throttled (0-1].")


class TrainingFigures(Strict):
    """What a cloud device achieves when it trains a convolutional vision model."""

    mfu: Sourced[Fraction] = Field(
        description="Model FLOPs utilisation (model FLOPs / peak bf16 x time), a published CNN run.")
    startup: Sourced[Duration] = Field(
        description="In-job initialisation before the first step (framework, compile, data pipeline); "
        "provisioning a node is not included.")


class SpotFigures(Strict):
    """Spot (preemptible) capacity of a cloud device: its discounted price and how often it is reclaimed."""

    hourly_price: Sourced[PriceRate] = Field(description="Spot price per accelerator-hour (as hourly_price).")
    preemption_rate: Sourced[Frequency] = Field(
        description="Mean preemptions per hour of a running node (a Poisson rate), e.g. '1.4e-4 / h'.")


OperatorClass = Literal["conv", "depthwise_conv", "matmul", "elementwise", "activation", "pooling",
                        "resize", "reshape_concat", "softmax", "nms"]


class DeviceSpec(Strict):
    """One accelerator (edge or cloud) as the hardware models see it."""

    schema_version: Literal[1] = Field(description="Format version of this file.")
    id: Name = Field(description="Id scenarios use to refer to the device.")
    name: str = Field(description="Human-readable product name.")
    kind: Literal["edge", "cloud"] = Field(description="Where the device is used.")
    accelerator_class: Literal["tpu", "gpu", "cpu", "fpga", "npu"] = Field(
        description="Architecture family."
    )
    peak: dict[Precision, Sourced[ComputeRate]] = Field(
        min_length=1, description="Dense peak throughput per supported precision (ops/s)."
    )
    tf32_peak: Sourced[ComputeRate] | None = Field(
        None, description="Dense TF32 tensor-core peak (ops/s) of a GPU whose runtimes run fp32 convolutions "
        "and matmuls as TF32 by default (Ampere and later); the other fp32 layers keep peak['fp32'].")
    dla_peak: Sourced[ComputeRate] | None = Field(
        None, description="Dense int8 peak (ops/s) of a Jetson's deep-learning accelerators (NVDLA), on top "
        "of peak['int8'] (then the GPU alone). Throughput points (MLPerf Offline runs the GPU and the DLAs "
        "on separate streams) count against both; latency points and predictions run on the GPU alone.")
    depthwise_peak: Sourced[ComputeRate] | None = Field(
        None, description="Peak (ops/s) of depthwise convolutions on a device that runs them on a narrower "
        "engine than its dense convolutions (an FPGA DPU's ALU); they count against it instead of peak, and "
        "the fitted depthwise factor is centred on 1 (the engine, not data reuse, sets their rate).")
    memory_bandwidth: Sourced[DataRate] | None = Field(None, description="DRAM/HBM bandwidth.")
    cache_bytes: Sourced[DataSize] | None = Field(
        None, description="Last-level cache that one inference's layers can keep their tensors in: a layer "
        "whose weights and activations fit pays its memory term at cache_bandwidth instead of "
        "memory_bandwidth (give both or neither).")
    cache_bandwidth: Sourced[DataRate] | None = Field(
        None, description="Bytes per second read and written through that cache (with cache_bytes).")
    int8_isa: Sourced[Literal["arm_dot_product", "arm_widening", "x86_vnni", "x86_widening"]] | None = Field(
        None, description="How a CPU's int8 kernels multiply: 'arm_dot_product' (Armv8.2 SDOT/UDOT, 4 int8 "
        "MACs per 32-bit lane), 'x86_vnni' (AVX-512 VNNI / AVX-VNNI, the same), 'arm_widening' (Armv8.0 "
        "SMLAL on Cortex-A53/A72) and 'x86_widening' (AVX2/AVX-512 VPMADDUBSW): int8 widened to int16 "
        "first. Sets how much of the int8 peak's advantage over fp32 runtimes realise, and which CPUs' "
        "int8 level a sparse CPU inherits (fleetsim.hardware.fit).")
    kernel_library: Sourced[str] | None = Field(
        None, description="Kernel library (runtime) the device's calibration points and predictions use, "
        "e.g. 'TFLite built-in kernels', 'XNNPACK', 'TensorRT', 'Edge TPU runtime'.")
    library_speedups: list[LibrarySpeedup] = Field(
        default_factory=list, description="Published speed of other kernel libraries relative to "
        "kernel_library, for points measured on them (a point's kernel_library).")
    on_chip_memory: Sourced[DataSize] | None = Field(
        None, description="SRAM that holds weights (beyond it they stream from DRAM or the host).")
    host_link: HostLink | None = Field(None, description="Link to the host, for add-on accelerators.")
    operators: list[OperatorClass] | None = Field(
        None, description="Operator classes it runs natively; others fall back to the host CPU "
        "(omit when it runs everything). Filled in from the compiler that names the device "
        "(hardware_models/compilers/); only a device no compiler names may set it.")
    host_cpu: Name | None = Field(
        None, description="CPU device id that feeds this accelerator and runs the operators it cannot.")
    vehicle_host: Sourced[Name] | None = Field(
        None, description="Host computer (a CPU device id) of this accelerator on a vehicle, when it is not "
        "host_cpu (the host most calibration points were timed on, e.g. a desktop); the source says why.")
    multi_context: Sourced[bool] | None = Field(
        None, description="True for a dataflow chip that holds a whole model on chip and splits one too "
        "large for it into contexts, switched (and their weights reloaded over the host link) every call.")
    contexts: dict[Name, Sourced[int]] = Field(
        default_factory=dict, description="Published number of contexts the vendor compiler splits a "
        "workload into on this multi_context device (workload id -> count); used instead of the "
        "capacity estimate for that workload, and it bounds the fitted context capacity.")
    thermal: Thermal | None = Field(None, description="Throttling under sustained load.")
    training: TrainingFigures | None = Field(
        None, description="Training defaults of a cloud device (a cluster may override them).")
    power_modes: dict[Name, PowerMode] = Field(
        default_factory=dict, description="Named operating points (e.g. Jetson nvpmodel modes) with their "
        "clocks and power; a scenario picks one with fleet.groups[].power_mode.")
    power_mode: Sourced[Name] | None = Field(
        None, description="The mode (a name in power_modes) that peak, memory_bandwidth, active_power and "
        "the calibration points are stated at: the default; the source says why it is that one.")
    active_power: Sourced[Power] = Field(description="Power while computing.")
    idle_power: Sourced[NonNegativePower] = Field(description="Power while idle.")
    call_overhead: Sourced[NonNegativeDuration] | None = Field(
        None, description="Fixed time per inference call (driver, host transfer set-up)."
    )
    unit_price: Sourced[Price] | None = Field(None, description="Purchase price of one unit.")
    hourly_price: Sourced[PriceRate] | None = Field(
        None, description="Cloud price per accelerator-hour."
    )
    spot: SpotFigures | None = Field(
        None, description="Spot capacity of a cloud device; without it a pool of this device cannot be spot.")
    calibration: list[CalibrationPoint] = Field(
        default_factory=list, description="Published measurements the efficiency is fitted to."
    )
    validation: list[CalibrationPoint] = Field(
        default_factory=list,
        description="Further published measurements, never fitted on, used to check predictions.")
    notes: str = Field("", description="Caveats on how the sources measured.")
    calibration_note: str = Field(
        "", description="Where and why the model still misses this device's published points "
        "(printed by `fleetsim hardware validate`).")

    @model_validator(mode="after")
    def _stated_mode(self):
        if self.power_modes and (self.power_mode is None or self.power_mode.value not in self.power_modes):
            raise ValueError(f"power_mode must name the mode the device's figures are stated at (allowed: "
                             f"{', '.join(self.power_modes)})")
        if not self.power_modes and self.power_mode is not None:
            raise ValueError("power_mode needs power_modes to name (allowed: omit it, or list power_modes)")
        for kind in ("calibration", "validation"):
            for i, point in enumerate(getattr(self, kind)):
                if point.power_mode is not None and point.power_mode not in self.power_modes:
                    allowed = ", ".join(self.power_modes) or "none: the device has no power_modes"
                    raise ValueError(f"{kind}[{i}].power_mode: unknown mode '{point.power_mode}' (allowed: "
                                     f"{allowed})")
        return self

    @model_validator(mode="after")
    def _cache_pair(self):
        if (self.cache_bytes is None) != (self.cache_bandwidth is None):
            raise ValueError("cache_bytes and cache_bandwidth go together (allowed: both, or neither)")
        return self


class CompileTime(Strict):
    """How long one compile of a model for the target takes: ``fixed`` + ``per_layer`` x layers."""

    fixed: Sourced[NonNegativeDuration] = Field(description="Time of a compile whatever the model's size.")
    per_layer: Sourced[NonNegativeDuration] = Field(description="Further time per layer of the graph.")


class CompilerSpec(Strict):
    """A vendor compiler that turns a released model into what a target accelerator runs: which
    devices use it, which operator classes it maps (the rest run on the host CPU), how long a
    compile takes and where it runs: one cloud node for all its devices, or with ``per_device`` a
    device of each target model."""

    schema_version: Literal[1] = Field(description="Format version of this file.")
    id: Name = Field(description="Compiler id (the file name without .yaml).")
    name: str = Field(description="Product name and version the figures are for.")
    devices: list[Name] = Field(min_length=1, description="Device ids whose models it compiles.")
    operators: list[OperatorClass] | None = Field(
        description="Operator classes it maps to the accelerator; null when it maps every class. From the "
        "first layer of another class on, the layers run on the device's host CPU (one partition).")
    operators_source: str = Field(min_length=3, description="Where the mapped operators are published.")
    compile_time: CompileTime = Field(description="Time of one compile.")
    per_device: Sourced[bool] | None = Field(
        None, description="true: one build per target device model, run on a device of that model "
        "(a TensorRT engine is specific to the GPU it was built on); null: one build for all its devices.")
    runs_on: Sourced[Name] | None = Field(
        None, description="Cloud device id (with an hourly_price) of the node the compile runs on; required "
        "unless per_device, where its hour prices a build on a device that has no price of its own.")
    host_life: Sourced[Duration] | None = Field(
        None, description="With per_device: the service life over which a build device without an "
        "hourly_price is paid off (its unit_price / host_life per second of build).")
    notes: str = Field("", description="Caveats.")

    @property
    def builds_per_device(self) -> bool:
        """Whether each target device model gets its own build, on a device of that model."""
        return self.per_device is not None and self.per_device.value

    @model_validator(mode="after")
    def _placed(self) -> CompilerSpec:
        if not self.builds_per_device and self.runs_on is None:
            raise ValueError("runs_on is required unless per_device is true (allowed: a cloud device id "
                             "with an hourly_price, or per_device: {value: true, source: ...})")
        return self


class WorkloadSpec(Strict):
    """A neural network workload: how much work and how many weights one inference has."""

    schema_version: Literal[1] = Field(description="Format version of this file.")
    id: Name = Field(description="Id scenarios and calibration points use.")
    name: str = Field(description="Human-readable model name and input size.")
    input_size: int = Field(gt=0, description="Square input side in pixels.")
    macs: Sourced[PositiveFloat] = Field(description="Multiply-accumulates per inference.")
    params: Sourced[PositiveFloat] = Field(description="Number of weights.")


class RateSpread(Strict):
    """What one vehicle reaches in one direction: lognormal with this median and p90."""

    median: Sourced[DataRate] = Field(description="Median rate of one vehicle (drive tests).")
    p90: Sourced[DataRate] = Field(description="90th percentile rate of one vehicle.")

    @model_validator(mode="after")
    def _ordered(self) -> RateSpread:
        if not self.p90.value > self.median.value:
            raise ValueError("p90 must exceed the median (allowed: p90 > median)")
        return self


class Handover(Strict):
    """Handovers while driving: how long each interrupts data, how often they happen."""

    interruption_median: Sourced[Duration] = Field(description="Median data interruption of one handover.")
    interruption_p90: Sourced[Duration] = Field(description="90th percentile interruption.")
    spacing: Sourced[Length] = Field(description="Mean driving distance between handovers.")

    @model_validator(mode="after")
    def _ordered(self) -> Handover:
        if not self.interruption_p90.value > self.interruption_median.value:
            raise ValueError("interruption_p90 must exceed interruption_median")
        return self


class RadioPower(Strict):
    """Radio power model: P = base + uplink_energy x uplink bit rate + downlink_energy x downlink
    bit rate while connected, a promotion before, and a tail after the last packet."""

    promotion: Sourced[NonNegativeDuration] = Field(description="Idle-to-connected promotion delay.")
    promotion_power: Sourced[NonNegativePower] = Field(description="Power during promotion.")
    base_power: Sourced[NonNegativePower] = Field(description="Connected power at zero throughput.")
    uplink_energy: Sourced[EnergyPerData] = Field(
        description="Extra energy per uplink bit, e.g. '438 nJ/bit'.")
    downlink_energy: Sourced[EnergyPerData] = Field(description="Extra energy per downlink bit.")
    tail: Sourced[NonNegativeDuration] = Field(description="Time connected after the last packet.")
    tail_power: Sourced[NonNegativePower] = Field(description="Power during the tail.")


class TechnologySpec(Strict):
    """A radio access technology's measured behaviour for vehicles (hardware_models/network/)."""

    schema_version: Literal[1] = Field(description="Format version of this file.")
    id: str = Field(description="Technology id (the file name without .yaml).")
    name: str = Field(description="Human-readable name and measurement context.")
    access: Literal["cell", "depot"] = Field(
        description="Where vehicles meet it: 'cell': cells along routes (network.cells[].technology); "
        "'depot': depots where vehicles park (network.depots[].technology).")
    metered: bool = Field(
        description="Whether its data is paid for by the byte (cellular plans): a group's "
        "uploads.cellular holds samples back on a metered technology.")
    uplink: RateSpread = Field(description="Per-vehicle uplink rate.")
    downlink: RateSpread = Field(description="Per-vehicle downlink rate.")
    cell_uplink_capacity: Sourced[DataRate] = Field(
        description="Default uplink capacity of one cell or AP.")
    cell_downlink_capacity: Sourced[DataRate] = Field(
        description="Default downlink capacity of one cell or AP.")
    latency: Sourced[NonNegativeDuration] = Field(description="One-way delay from the vehicle to the core.")
    jitter: Sourced[NonNegativeDuration] = Field(description="Standard deviation of the one-way delay.")
    loss_rate: Sourced[float] = Field(description="Packet loss probability, in [0, 0.5).")
    handover: Handover | None = Field(None, description="Handovers while driving (none for WiFi).")
    radio: RadioPower = Field(description="Radio power model.")
    notes: str = Field("", description="Caveats.")

    @model_validator(mode="after")
    def _loss(self) -> TechnologySpec:
        if not 0 <= self.loss_rate.value < 0.5:
            raise ValueError("loss_rate must be in [0, 0.5) (allowed: a probability such as 0.001)")
        return self
