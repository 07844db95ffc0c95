"""Flow-level transfers over the scenario's network, shared max-min fairly.

Every transfer is a flow from a vehicle to a cloud region (uplink) or back (downlink).
It crosses the vehicle's own radio (its achievable rate, redrawn every rate interval
from the serving technology's drive-test spread), the serving access network's shared
capacity and the backhaul. Rates are recomputed with ``max_min_rates`` whenever a flow
starts or ends, a rate interval begins, or a vehicle with a flow changes attachment.

* A flow of a vehicle in a coverage gap or handover pauses and resumes where it
  stopped; no byte is lost.
* Loss: a share ``loss`` of the bytes sent is sent again, so the payload advances at
  rate x (1 - loss); the retransmitted bytes are counted.
* The last byte reaches the far end after the path's one-way latency plus jitter
  (normal, with the hops' standard deviations combined, never below zero).
* Radio energy (``RadioEnergy``): promotion when the radio was idle, base power while
  connected with a flow, energy per bit sent or received, and the tail after the last
  flow, cut short when a new flow starts.

Bytes offered = bytes delivered + bytes in flight, always.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy
from scipy.special import ndtri

from fleetsim.network.coverage import NONE, Z90, Attachment
from fleetsim.network.sharing import max_min_rates
from fleetsim.network.topology import UP, Topology
from fleetsim.rng import counter_uniform

_FINISH_SLACK_S = 1e-9
"""A flow with less than this much transfer time left counts as finished (float rounding)."""


@dataclass(frozen=True)
class TransferResult:
    """How one transfer went."""

    started_s: float  # when it was requested
    sent_s: float  # when its last byte left
    delivered_s: float  # when its last byte arrived
    size: float
    wire_bytes: float  # payload plus retransmissions and restarted progress
    paused_s: float  # time spent without a network (gaps, handovers)
    restarts: int  # times it started over after a pause longer than its restart time


@dataclass(eq=False)
class _Flow:
    serial: int
    vehicle: int
    direction: int
    region: str
    size: float
    remaining: float
    started_s: float
    done: simpy.Event
    restart_after_s: float = math.inf
    wire_bytes: float = 0.0
    paused_s: float = 0.0
    paused_since: float | None = None
    restarts: int = 0


class RadioEnergy:
    """Per-vehicle radio energy and state (idle, promoting, connected, tail)."""

    def __init__(self, vehicles: int):
        self.joules = np.zeros(vehicles)
        self.last_end = np.full(vehicles, -np.inf)  # when its last flow ended
        self.last_radio: list = [None] * vehicles  # the radio spec in use then
        self.ready_at = np.full(vehicles, -np.inf)  # end of a promotion under way

    def promotion_needed(self, v: int, now: float, radio) -> bool:
        """Whether a new flow at ``now`` finds the radio idle (tail over), and no promotion under way."""
        return now >= self.ready_at[v] and now - self.last_end[v] >= (
            self.last_radio[v].tail.value if self.last_radio[v] is not None else 0.0)

    def close_tail(self, v: int, now: float) -> None:
        """Charge the tail since the last flow, cut at ``now``."""
        radio = self.last_radio[v]
        if radio is not None and np.isfinite(self.last_end[v]):
            self.joules[v] += radio.tail_power.value * min(radio.tail.value, now - self.last_end[v])
            self.last_end[v] = -np.inf
            self.last_radio[v] = None

    def finish(self, horizon_s: float) -> None:
        for v in range(len(self.joules)):
            self.close_tail(v, horizon_s)


class DriveTestRates:
    """Each vehicle's radio rate: lognormal by the serving technology's median and p90, one
    counter-based draw per vehicle, direction and rate interval (``interval_s``)."""

    def __init__(self, keys: np.ndarray, interval_s: float):
        self.keys = keys  # (V, 2) counter keys of each vehicle's uplink / downlink draws
        self.interval_s = interval_s

    def rate(self, vehicle: int, direction: int, tech, t: float) -> float:
        spread = tech.uplink if direction == UP else tech.downlink
        median = spread.median.value
        sigma = math.log(spread.p90.value / median) / Z90
        u = counter_uniform(self.keys[vehicle, direction], int(t // self.interval_s))
        return float(median * math.exp(sigma * ndtri(u)))


class FlowNetwork:
    """Transfers of all vehicles over a shared topology, as a SimPy-driven fluid model."""

    def __init__(self, env: simpy.Environment, topology: Topology, attachments: list[Attachment],
                 rates: DriveTestRates, jitter_key: np.uint64):
        self.env = env
        self.topology = topology
        self.attachments = attachments
        self.rates = rates
        self.jitter_key = jitter_key
        self.radio = RadioEnergy(len(attachments))
        self.flows: list[_Flow] = []
        self.bytes_offered = np.zeros(2)  # per direction (UP, DOWN)
        self.bytes_delivered = np.zeros(2)
        self.bytes_retransmitted = 0.0
        self.bytes_restarted = 0.0  # progress thrown away when a paused flow timed out
        self.transfers = 0
        self._serial = 0
        self._settled_at = env.now
        self._generation = 0
        self._arrays = _FlowArrays.empty(len(attachments))

    @property
    def bytes_in_flight(self) -> np.ndarray:
        """Per direction, bytes offered but not yet delivered."""
        return self.bytes_offered - self.bytes_delivered

    def transfer(self, vehicle: int, direction: int, size: float, region: str,
                 restart_after_s: float = math.inf) -> simpy.Event:
        """Send ``size`` bytes; the event's value is a ``TransferResult`` once the last byte arrived.

        A flow paused (no network) for longer than ``restart_after_s`` starts over when the
        network returns: the session timed out, and its progress is counted as restarted bytes.
        """
        done = self.env.event()
        self.bytes_offered[direction] += size
        flow = _Flow(self._serial, vehicle, direction, region, size, size, self.env.now, done,
                     restart_after_s=restart_after_s)
        self._serial += 1
        self.env.process(self._start(flow))
        return done

    def vehicle_rate(self, vehicle: int, direction: int, t: float) -> float:
        """The rate ``vehicle``'s radio reaches at ``t`` in ``direction`` (0 without a network)."""
        access = self.attachments[vehicle].access_at(t)
        if access == NONE:
            return 0.0
        return self.rates.rate(vehicle, direction, self.topology.accesses[access].technology, t)

    def finish(self) -> None:
        """Bring flows and radio energy up to the end of the run (tails cut there)."""
        self._settle()
        self.radio.finish(self.env.now)

    def _start(self, flow: _Flow):
        v = flow.vehicle
        access = self.attachments[v].access_at(self.env.now)
        radio = self.topology.accesses[access].technology.radio if access != NONE else None
        if self._flows_of(v) == 0:
            if radio is not None and self.radio.promotion_needed(v, self.env.now, radio):
                self.radio.close_tail(v, self.env.now)
                self.radio.joules[v] += radio.promotion_power.value * radio.promotion.value
                self.radio.ready_at[v] = self.env.now + radio.promotion.value
            if self.env.now < self.radio.ready_at[v]:
                yield self.env.timeout(self.radio.ready_at[v] - self.env.now)
            if self._flows_of(v) == 0:
                self.radio.close_tail(v, self.env.now)
        self._settle()
        self.flows.append(flow)
        self.transfers += 1
        self._reschedule()

    def _flows_of(self, v: int) -> int:
        return sum(1 for f in self.flows if f.vehicle == v)

    def _settle(self) -> None:
        """Advance every flow, and the radio energy, from the last event to now."""
        dt = self.env.now - self._settled_at
        self._settled_at = self.env.now
        a = self._arrays
        if dt <= 0 or not self.flows:
            return
        sent = a.rate * dt
        progressed = sent * (1 - a.loss)
        for flow, s, p, attached in zip(self.flows, sent, progressed, a.attached, strict=True):
            flow.remaining -= p
            flow.wire_bytes += s
            if not attached:
                flow.paused_s += dt
        self.bytes_retransmitted += float((sent - progressed).sum())
        np.add.at(self.radio.joules, a.vehicle, a.joules_per_byte * sent)
        self.radio.joules[a.connected] += a.base_power * dt

    def _reschedule(self) -> None:
        now = self.env.now
        self._track_pauses(now)
        self._arrays = _FlowArrays.build(self, now)
        self._generation += 1
        if not self.flows:
            return
        a = self._arrays
        goodput = a.rate * (1 - a.loss)
        remaining = np.array([f.remaining for f in self.flows])
        with np.errstate(divide="ignore"):
            finish = np.where(goodput > 0, np.maximum(remaining, 0.0) / goodput, np.inf)
        wait = float(finish.min())
        interval = self.rates.interval_s
        next_slot = (math.floor(now / interval) + 1) * interval if a.attached.any() else math.inf
        changes = min(self.attachments[v].next_change(now) for v in set(a.vehicle.tolist()))
        wait = min(wait, next_slot - now, changes - now)
        self.env.process(self._wake(wait, self._generation))

    def _wake(self, wait: float, generation: int):
        yield self.env.timeout(max(wait, 0.0))
        if generation != self._generation:
            return  # superseded by a later event
        self._settle()
        a = self._arrays
        goodput = a.rate * (1 - a.loss)
        finished = [f for f, g in zip(self.flows, goodput, strict=True)
                    if g > 0 and f.remaining <= g * _FINISH_SLACK_S]
        if finished:
            done = set(id(f) for f in finished)
            self.flows = [f for f in self.flows if id(f) not in done]
            for flow in finished:
                self._release_radio(flow.vehicle)
                self.env.process(self._deliver(flow))
        self._reschedule()

    def _track_pauses(self, now: float) -> None:
        """Note when flows lose the network; restart those whose pause outlasted their session."""
        for flow in self.flows:
            attached = self.attachments[flow.vehicle].access_at(now) != NONE
            if not attached:
                if flow.paused_since is None:
                    flow.paused_since = now
            elif flow.paused_since is not None:
                if now - flow.paused_since > flow.restart_after_s:
                    self.bytes_restarted += flow.size - flow.remaining
                    flow.remaining = flow.size
                    flow.restarts += 1
                flow.paused_since = None

    def _release_radio(self, v: int) -> None:
        if self._flows_of(v) == 0:
            access = self.attachments[v].access_at(self.env.now)
            tech = self.topology.accesses[access].technology if access != NONE else None
            self.radio.last_end[v] = self.env.now
            self.radio.last_radio[v] = tech.radio if tech is not None else None

    def _deliver(self, flow: _Flow):
        sent = self.env.now
        access = self.attachments[flow.vehicle].access_at(sent)
        hops = self.topology.path(access, flow.region) if access != NONE else []
        latency = sum(h.latency_s for h in hops)
        sigma = math.sqrt(sum(h.jitter_s ** 2 for h in hops))
        z = float(ndtri(counter_uniform(self.jitter_key, flow.serial)))
        yield self.env.timeout(max(0.0, latency + sigma * z))
        self.bytes_delivered[flow.direction] += flow.size
        flow.done.succeed(TransferResult(started_s=flow.started_s, sent_s=sent, delivered_s=self.env.now,
                                         size=flow.size, wire_bytes=flow.wire_bytes,
                                         paused_s=flow.paused_s, restarts=flow.restarts))


@dataclass
class _FlowArrays:
    """Per-flow rates and energy terms in force between two events (aligned with ``flows``)."""

    vehicle: np.ndarray
    rate: np.ndarray  # bytes/s on the wire
    loss: np.ndarray
    attached: np.ndarray
    joules_per_byte: np.ndarray
    connected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    base_power: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def empty(cls, vehicles: int) -> _FlowArrays:
        z = np.zeros(0)
        return cls(np.zeros(0, dtype=np.int64), z, z, np.zeros(0, dtype=bool), z)

    @classmethod
    def build(cls, net: FlowNetwork, now: float) -> _FlowArrays:
        flows = net.flows
        n = len(flows)
        vehicle = np.array([f.vehicle for f in flows], dtype=np.int64)
        loss = np.zeros(n)
        attached = np.zeros(n, dtype=bool)
        joules_per_byte = np.zeros(n)
        capacity = list(net.topology.capacity)
        edge_res: list[int] = []
        edge_flow: list[int] = []
        radio_resource: dict[tuple[int, int], int] = {}
        connected: dict[int, float] = {}
        for i, f in enumerate(flows):
            access = net.attachments[f.vehicle].access_at(now)
            if access == NONE:
                continue
            attached[i] = True
            tech = net.topology.accesses[access].technology
            key = (f.vehicle, f.direction)
            if key not in radio_resource:
                radio_resource[key] = len(capacity)
                capacity.append(net.vehicle_rate(f.vehicle, f.direction, now))
            edge_res.append(radio_resource[key])
            edge_flow.append(i)
            survive = 1.0
            for hop in net.topology.path(access, f.region):
                edge_res.append(hop.resource[f.direction])
                edge_flow.append(i)
                survive *= 1 - hop.loss
            loss[i] = 1 - survive
            energy = tech.radio.uplink_energy if f.direction == UP else tech.radio.downlink_energy
            joules_per_byte[i] = energy.value
            connected[f.vehicle] = tech.radio.base_power.value
        rate = np.zeros(n)
        if attached.any():
            idx = np.flatnonzero(attached)
            local = {int(g): k for k, g in enumerate(idx)}
            shared = max_min_rates(np.array(capacity), np.full(len(idx), np.inf),
                                   np.array(edge_res, dtype=np.int64),
                                   np.array([local[i] for i in edge_flow], dtype=np.int64))
            rate[idx] = shared
        return cls(vehicle, rate, loss, attached, joules_per_byte,
                   np.array(list(connected), dtype=np.int64), np.array(list(connected.values())))

