"""Offloaded detection: frames up the serving cell, a shared remote queue, results back.

Each frame of a group with ``placement: mec`` or ``cloud`` passes six legs:

    capture       the camera's readout, as onboard (``edge.perception.FramePaths``): a
                  frame can be sent once it is read out
    send_queue    the vehicle sends its frames one at a time, FIFO, with at most
                  ``offload.send_queue`` waiting (more are dropped)
    uplink        frame_size / (rate x (1 - loss)), where rate is the rate the vehicle's
                  stream could reach then (``FlowNetwork.frame_rates``), plus the path's
                  one-way latency and jitter to the server
    remote_queue  every vehicle's frames for one server pool wait in one FIFO queue of
                  ``servers`` accelerators, at most ``queue_capacity`` waiting (more are dropped)
    inference     the server accelerator's modelled latency for the frame's group's costed workload
                  (its detector variant's)
    downlink      result_size / the vehicle's downlink radio rate, plus latency and jitter
                  (the path of the cell the frame left from)

A frame read out with no path to a server (a coverage gap, a handover, a cell without a
MEC server) fails. The stream itself is a flow of the network capped at the group's
offered load (frames per second x frame_size), so offloading takes its share of the
cells and backhauls that uploads and model downloads cross.

Frames reach a server in a different order from the one they were captured in, so a
server serves only the arrivals before the time perception has reached: every later
frame is read out later and so arrives later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from fleetsim.edge.fleet import GroupMembers
from fleetsim.edge.queueing import QueueState, serve
from fleetsim.hardware.inference import InferenceCost, inference_cost
from fleetsim.metrics.ledger import FrameBatch
from fleetsim.network.coverage import NONE
from fleetsim.network.flows import NEAREST_MEC_NAME, FlowNetwork
from fleetsim.network.topology import DOWN, UP
from fleetsim.queues import ServerPool
from fleetsim.rng import component_key, counter_uniform


@dataclass
class InferenceSite:
    """One pool of remote accelerators: a MEC server or the cloud's inference servers."""

    name: str
    kind: str  # "mec" or "cloud"
    accelerator: str
    servers: int
    costs: tuple[InferenceCost, ...]  # of a frame of each detector variant (by the run's variant index)
    idle_power_w: float
    queue: ServerPool
    price_per_s: float = float("nan")  # one accelerator's hourly price, USD/s (NaN: the device has none)
    pending: list[dict] = field(default_factory=list)  # frames that have not reached it yet
    arrived: int = 0
    served: int = 0
    dropped: int = 0
    busy_by_variant: dict[int, float] = field(default_factory=dict)
    served_by_variant: dict[int, int] = field(default_factory=dict)

    @property
    def busy_s(self) -> float:
        return sum(self.busy_by_variant.values())

    @property
    def latency_s(self) -> float:
        """Modelled latency of a frame here: its variant's (the first variant's before any is served), or
        the mean over the frames served when groups running several variants sent them."""
        served = {k: n for k, n in self.served_by_variant.items() if n}
        if len(served) <= 1:
            return self.costs[next(iter(served), 0)].latency_s
        return sum(self.costs[k].latency_s * n for k, n in served.items()) / sum(served.values())

    def energy_j(self, duration_s: float) -> float:
        """Idle power of every accelerator over the run, plus each variant's extra while serving it."""
        extra = sum((self.costs[k].energy_j / self.costs[k].latency_s - self.idle_power_w) * busy
                    for k, busy in self.busy_by_variant.items())
        return self.servers * self.idle_power_w * duration_s + extra

    def cost_usd(self, duration_s: float) -> float:
        """Every accelerator rented for the whole run at its hourly price (NaN without one)."""
        return self.servers * self.price_per_s * duration_s


class Offloading:
    """The offloading groups' send queues and streams, and the remote sites they use.

    ``placement`` is where each group (by index) detects its frames now; ``place`` moves a
    group (a placement policy's decision): its stream closes, and one to the new
    destination opens (frames already sent finish where they went)."""

    def __init__(self, groups: list[GroupMembers], sites: dict[int, InferenceSite],
                 cloud_site: InferenceSite | None, network: FlowNetwork, cloud_region: str, seed: int,
                 placements: dict[int, str], variants: dict[int, int]):
        self.network = network
        self.variants = variants  # group index -> its detector variant's index in the sites' costs
        self.sites = sites  # by network destination index (MEC servers)
        self.cloud_site = cloud_site
        self.cloud_region = cloud_region
        self.cloud_dest = network.tables.regions[cloud_region]
        self.seed = seed
        self.placement = {g.index: "onboard" for g in groups}
        self.send_queues: dict[int, QueueState] = {}
        self.streams: dict[int, np.ndarray] = {}  # group index -> stream id per vehicle
        self.jitter_keys: dict[int, np.ndarray] = {}
        self.frame_size: dict[str, float] = {}
        self.offboard_frames: dict[str, int] = {}
        self.no_path_frames: dict[str, int] = {}
        for g in groups:
            self.place(g, placements[g.index])

    def place(self, members: GroupMembers, placement: str) -> None:
        """Detect ``members``' frames read out from now on ``placement`` (onboard, mec or cloud)."""
        g, spec, network = members.index, members.spec, self.network
        if self.placement[g] == placement:
            return
        for sid in self.streams.pop(g, np.zeros(0, dtype=np.int64)).tolist():
            network.close_stream(sid)
        self.placement[g] = placement
        if placement == "onboard":
            return
        demand = sum(c.fps for c in spec.cameras) * spec.offload.frame_size
        destination = NEAREST_MEC_NAME if placement == "mec" else self.cloud_region
        self.streams[g] = np.array([network.open_stream(v.index, UP, destination, demand)
                                    for v in members.vehicles])
        if g not in self.send_queues:
            self.send_queues[g] = QueueState.empty(len(members.vehicles), spec.offload.send_queue)
            self.jitter_keys[g] = np.array([component_key(self.seed, "offload_jitter", spec.name, i)
                                            for i in range(len(members.vehicles))], dtype=np.uint64)
            self.frame_size[spec.name] = spec.offload.frame_size
            self.offboard_frames[spec.name] = 0
            self.no_path_frames[spec.name] = 0

    def offboard_bytes(self) -> dict[str, float]:
        """Per group that offloaded, raw frame bytes that left its vehicles."""
        return {name: frames * self.frame_size[name] for name, frames in self.offboard_frames.items()}

    def all_sites(self) -> list[InferenceSite]:
        return [*self.sites.values(), *([self.cloud_site] if self.cloud_site else [])]

    def submit(self, members: GroupMembers, frames: dict[str, np.ndarray]) -> FrameBatch:
        """Send a group's frames (V, N arrays, +inf padded, each row in the order of ``ready_s``,
        the end of their readout); return those already decided (no path, or dropped by the
        send queue) and keep the rest for their server."""
        spec, tables = members.spec, self.network.tables
        placement = self.placement[members.index]
        ready = frames["ready_s"]
        access = self._access(members, ready)
        dest = (tables.mec_of[np.maximum(access, 0)] if placement == "mec"
                else np.full(access.shape, self.cloud_dest))
        rates = np.stack([self.network.frame_rates(int(s), row)
                          for s, row in zip(self.streams[members.index], ready, strict=True)])
        a, d = np.maximum(access, 0), np.maximum(dest, 0)
        valid = np.isfinite(ready)
        reachable = valid & (access != NONE) & (dest != NONE) & (rates > 0)
        goodput = rates * (1 - tables.loss[a, d])
        with np.errstate(divide="ignore"):
            send_s = np.where(reachable, spec.offload.frame_size / goodput, 0.0)
        sent = serve(self.send_queues[members.index], np.where(reachable, ready, np.inf), send_s)
        keys = self.jitter_keys[members.index][:, None]
        counter = frames["counter"] * 2 * len(spec.cameras) + frames["camera"] * 2
        uplink_delay = _delay(tables, a, d, keys, counter)
        arrival = sent.departure + uplink_delay
        self.offboard_frames[spec.name] += int(sent.admitted.sum())
        self.no_path_frames[spec.name] += int((valid & ~reachable).sum())
        rows = sent.admitted
        record = {name: values[rows] for name, values in frames.items()}
        record.update(send_start=sent.start[rows], arrival=arrival[rows],
                      access=a[rows], dest=d[rows], jitter_key=np.broadcast_to(keys, ready.shape)[rows],
                      jitter_counter=counter[rows] + 1,
                      result_size=np.full(rows.sum(), spec.offload.result_size),
                      variant=np.full(rows.sum(), self.variants[members.index]))
        for site_dest in np.unique(record["dest"]).tolist():
            site = self._site(placement, site_dest)
            mine = record["dest"] == site_dest
            site.pending.append({k: v[mine] for k, v in record.items()})
        decided = valid & ~sent.admitted
        return _batch({k: v[decided] for k, v in frames.items()}, failed=~reachable[decided])

    def release(self, t: float) -> list[FrameBatch]:
        """Serve every frame that reached its server before ``t``; return the finished frames."""
        out = []
        for site in self.all_sites():
            if not site.pending:
                continue
            waiting = {k: np.concatenate([p[k] for p in site.pending]) for k in site.pending[0]}
            due = waiting["arrival"] < t
            site.pending = [{k: v[~due] for k, v in waiting.items()}] if (~due).any() else []
            if due.any():
                out.append(self._serve(site, {k: v[due] for k, v in waiting.items()}))
        return out

    def _serve(self, site: InferenceSite, f: dict[str, np.ndarray]) -> FrameBatch:
        order = np.lexsort((f["counter"], f["camera"], f["vehicle"], f["arrival"]))
        f = {k: v[order] for k, v in f.items()}
        latency = np.array([cost.latency_s for cost in site.costs])
        admitted, start, end = site.queue.serve(f["arrival"], latency[f["variant"]])
        site.arrived += len(admitted)
        site.served += int(admitted.sum())
        site.dropped += int((~admitted).sum())
        for k in np.unique(f["variant"]).tolist():
            mine = admitted & (f["variant"] == k)
            busy = float((end[mine] - start[mine]).sum())
            site.busy_by_variant[k] = site.busy_by_variant.get(k, 0.0) + busy
            site.served_by_variant[k] = site.served_by_variant.get(k, 0) + int(mine.sum())
        tables = self.network.tables
        down = self.network.rates.at(f["vehicle"], DOWN, f["access"], np.where(admitted, end, 0.0))
        back = end + f["result_size"] / down + _delay(tables, f["access"], f["dest"], f["jitter_key"],
                                                      f["jitter_counter"])
        legs = {
            "capture": f["readout_s"],
            "send_queue": f["send_start"] - f["ready_s"],
            "uplink": f["arrival"] - f["send_start"],
            "remote_queue": start - f["arrival"],
            "inference": end - start,
            "downlink": back - end,
        }
        keep = ("vehicle", "camera", "counter", "capture_s", "model_version")
        batch = _batch({k: f[k] for k in keep}, failed=np.zeros(len(admitted), dtype=bool),
                       processed=admitted, start=start, done=np.where(admitted, back, np.nan))
        batch.legs = {k: np.where(admitted, v, np.nan) for k, v in legs.items()}
        return batch

    def _site(self, placement: str, dest: int) -> InferenceSite:
        return self.sites[dest] if placement == "mec" else self.cloud_site

    def _access(self, members: GroupMembers, times: np.ndarray) -> np.ndarray:
        """Access network of each frame at ``times`` (NONE in a gap or handover)."""
        out = np.full(times.shape, NONE, dtype=np.int64)
        for row, vehicle in enumerate(members.vehicles):
            att = self.network.attachments[vehicle.index]
            valid = np.isfinite(times[row])
            span = np.searchsorted(att.start_s, times[row][valid], side="right") - 1
            out[row, valid] = att.access[span]
        return out


def _delay(tables, access: np.ndarray, dest: np.ndarray, keys: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """One-way latency plus normal jitter (never below zero) of each frame's path."""
    z = ndtri(counter_uniform(keys, counter))
    return np.maximum(0.0, tables.latency[access, dest] + tables.jitter[access, dest] * z)


def _batch(f: dict[str, np.ndarray], failed: np.ndarray, processed: np.ndarray | None = None,
           start: np.ndarray | None = None, done: np.ndarray | None = None) -> FrameBatch:
    """A FrameBatch of offloaded frames; the vehicle's own accelerator is never busy with them."""
    n = len(f["vehicle"])
    none = np.full(n, np.nan)
    processed = np.zeros(n, dtype=bool) if processed is None else processed
    return FrameBatch(vehicle=f["vehicle"], camera=f["camera"], counter=f["counter"],
                      capture_s=f["capture_s"],
                      start_s=none if start is None else np.where(processed, start, np.nan),
                      done_s=none if done is None else done, processed=processed, failed=failed,
                      throttled=np.zeros(n, dtype=bool), model_version=f["model_version"],
                      detected=np.zeros(n, dtype=bool), busy_s=np.zeros(n))


def build_offloading(scenario, catalog, workloads: dict, groups: list[GroupMembers], network: FlowNetwork,
                     placements: dict[int, str], switchable: bool = False) -> Offloading | None:
    """The run's offloading from ``placements`` (by group index; None when every group detects
    onboard and, unless ``switchable``, always will); ``workloads`` are the costed workloads of
    the run's detector variants (by name), a group's frames costed on its own variant's."""
    if all(p == "onboard" for p in placements.values()) and not switchable:
        return None

    def site(name: str, kind: str, spec) -> InferenceSite:
        device = catalog.device(spec.accelerator)
        return InferenceSite(name=name, kind=kind, accelerator=spec.accelerator, servers=spec.servers,
                             costs=tuple(inference_cost(device, workload, spec.precision, catalog)
                                         for workload in workloads.values()),
                             idle_power_w=device.idle_power.value,
                             queue=ServerPool(spec.servers, spec.queue_capacity),
                             price_per_s=device.hourly_price.value if device.hourly_price else float("nan"))

    regions = network.tables.regions
    sites = {regions[f"mec:{m.name}"]: site(m.name, "mec", m) for m in scenario.network.mec}
    cloud = scenario.cloud.inference
    cloud_site = site(scenario.cloud.region, "cloud", cloud) if cloud is not None else None
    names = list(workloads)
    variants = {g.index: names.index(scenario.variant_of(g.spec)) for g in groups}
    return Offloading(groups, sites, cloud_site, network, scenario.cloud.region, scenario.simulation.seed,
                      placements, variants)
