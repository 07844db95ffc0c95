"""Where a vehicle group's frames are detected: onboard, on a roadside MEC server, or in the cloud.

An offloading group streams each frame up its serving cell (``Offload.frame_size`` bytes),
the frame queues at the remote accelerator, and the detections come back
(``Offload.result_size`` bytes). MEC servers sit beside the cells they list
(``network.mec``); cloud inference servers sit in the cloud region (``cloud.inference``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from fleetsim.scenario.base import Strict
from fleetsim.scenario.types import DataSize, Name, NonNegativeDuration

Placement = Literal["onboard", "mec", "cloud"]


class Offload(Strict):
    """What an offloading vehicle sends per frame and how many frames may wait to be sent."""

    frame_size: DataSize = Field(
        "200 kB", description="Bytes of one encoded camera frame sent for remote detection, e.g. '200 kB'.")
    result_size: DataSize = Field(
        "2 kB", description="Bytes of the detections sent back per frame.")
    send_queue: NonNegativeInt = Field(
        2, description="Frames that may wait on the vehicle for the uplink; a frame arriving to a full "
        "send queue is dropped.")


class InferenceServers(Strict):
    """A pool of identical accelerators serving offloaded frames in one FIFO queue."""

    accelerator: str = Field(description="Hardware model id from hardware_models/ (edge or cloud).")
    precision: Literal["int8", "fp16", "fp32"] = Field("int8", description="Precision the detector runs at.")
    servers: PositiveInt = Field(1, description="Accelerators serving the queue in parallel.")
    queue_capacity: NonNegativeInt = Field(
        64, description="Frames that may wait for a free accelerator; more are dropped.")
    source: str = Field(min_length=1, description="Where the choice of accelerator and its sizing come from.")


class MecServer(InferenceServers):
    """A roadside (multi-access edge computing) server shared by the vehicles its cells serve."""

    name: Name = Field(description="MEC server name.")
    cells: list[Name] = Field(min_length=1, description="Cells (network.cells) whose vehicles it serves.")
    latency: NonNegativeDuration = Field(
        description="One-way delay from the cell to the server, in place of the technology's latency "
        "to the internet (the server sits inside the operator's network).")
