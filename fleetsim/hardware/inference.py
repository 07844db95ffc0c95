"""Inference latency and energy of a workload on a device, as the simulation asks for them.

The hardware modules form a one-way chain: :mod:`fleetsim.hardware.roofline` writes one call
out as a per-layer roofline and prices it under given parameters; :mod:`fleetsim.hardware.fit`
fits each device's parameters to its published measurements; this module puts the two
together.

>>> from fleetsim.hardware.catalog import load_catalog
>>> catalog = load_catalog()
>>> cost = inference_cost(catalog.device("coral_usb"), catalog.profile("mobilenet_v2_224"), "int8",
...                       catalog)                                            # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.fit import device_fit, host_fit, preprocess_runner, preprocess_s, preprocess_terms
from fleetsim.hardware.roofline import InferenceCost, call_terms, evaluate
from fleetsim.hardware.specs import DeviceSpec
from fleetsim.hardware.workload import Workload


def calibrated_precisions(device: DeviceSpec) -> list[str]:
    """Precisions the device supports and has at least one (fitted, not excluded) calibration point for."""
    return sorted({p.precision for p in device.calibration
                   if p.precision in device.peak and p.excluded is None})


def inference_cost(device: DeviceSpec, workload: Workload, precision: str, catalog: Catalog,
                   batch: int = 1, throttled: bool = False, host: str | None = None) -> InferenceCost:
    """Latency and energy of one call of ``batch`` inferences of ``workload`` on ``device``;
    ``throttled`` applies the device's sustained-load speed, ``host`` overrides its host CPU."""
    terms = call_terms(device, workload, precision, catalog, batch, host,
                       host_fit=host_fit(device, workload, catalog, host))
    return evaluate(device, terms, device_fit(device, catalog), throttled)


CSI2_RATE = 2 * 912e6 / 8
"""Camera readout rate, bytes/s: a 2-lane MIPI CSI-2 link at 912 Mbit/s per lane (the Raspberry Pi
camera module v2's Sony IMX219 maximum, UNVERIFIED against Sony's datasheet), 10 bits per raw pixel."""
RAW_BYTES_PER_PIXEL = 10 / 8
HANDOFF_S = 50e-6
"""Handing one frame's detections to the consumer (a copy of at most a few hundred boxes and one
inter-process or queue hand-off): about 50 us on an embedded Linux host, a modelling choice."""
FRAME_LEGS = ("capture", "preprocess", "transfer", "inference", "postprocess", "handoff")


@dataclass(frozen=True)
class FrameLegs:
    """One frame's way through the pipeline, seconds per leg (``FRAME_LEGS`` order)."""

    capture_s: float  # sensor readout of the camera frame over the camera link
    preprocess_s: float  # resize + normalise on the host CPU (or the device itself)
    transfer_s: float  # input to and results from the accelerator over its host link
    inference_s: float  # the accelerator's own time (and any layers it hands to the host)
    postprocess_s: float  # box decode + NMS on the host
    handoff_s: float  # detections to the consumer

    @property
    def latency_s(self) -> float:
        """Capture to detections, the legs in series."""
        return sum(self.as_dict().values())

    pipelined: bool = True  # host and accelerator are separate, so consecutive frames overlap

    @property
    def processing_s(self) -> float:
        """From the frame in memory to detections handed off: every leg but the capture."""
        return self.latency_s - self.capture_s

    @property
    def server_s(self) -> float:
        """How long one frame holds the vehicle's processing: the busier of the host CPU (pre- and
        post-processing, hand-off) and the accelerator (transfers and inference) when they overlap
        on consecutive frames, their sum on a CPU-only device (one resource)."""
        host = self.preprocess_s + self.postprocess_s + self.handoff_s
        device = self.transfer_s + self.inference_s
        return max(host, device) if self.pipelined else host + device

    @property
    def interval_s(self) -> float:
        """Time between frames in steady state, the camera readout of frame n+1 overlapping the
        processing of frame n: the slowest of the camera and the processing."""
        return max(self.capture_s, self.server_s)

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, f"{name}_s") for name in FRAME_LEGS}


def frame_legs(device: DeviceSpec, workload: Workload, precision: str, catalog: Catalog,
               cost: InferenceCost | None = None, camera_pixels: int | None = None,
               host: str | None = None) -> FrameLegs:
    """The legs of one frame of ``workload`` on ``device``: ``camera_pixels`` (None: the frame is
    already in memory, as in published pipeline timings) sets the capture leg and the source side of
    pre-processing, which runs on the host CPU (``host``, else the device's ``host_cpu``, else the
    device itself)."""
    cost = cost or inference_cost(device, workload, precision, catalog, host=host)
    fit = device_fit(device, catalog)
    unit, floor, own = preprocess_terms(device, workload, precision, catalog, camera_pixels, host)
    capture = camera_pixels * RAW_BYTES_PER_PIXEL / CSI2_RATE if camera_pixels else 0.0
    host_work = cost.fallback_s
    return FrameLegs(capture_s=capture, preprocess_s=preprocess_s(fit, unit, floor, own),
                     transfer_s=cost.transfer_s, inference_s=cost.latency_s - cost.transfer_s - host_work,
                     postprocess_s=host_work, handoff_s=HANDOFF_S,
                     pipelined=preprocess_runner(device, catalog, host) is not device)
