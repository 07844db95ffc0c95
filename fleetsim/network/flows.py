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
from dataclasses import dataclass

import numpy as np
import simpy
from scipy.special import ndtri

from fleetsim.network.coverage import NONE, Attachment
from fleetsim.network.sharing import max_min_rates
from fleetsim.network.topology import Topology
from fleetsim.rng import counter_uniform, lognormal_quantile

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


class RadioEnergy:
    """Per-vehicle radio energy and state (idle, promoting, connected, tail)."""

    def __init__(self, vehicles: int):
        self.joules = np.zeros(vehicles)
        self.last_end = np.full(vehicles, -np.inf)  # when its last flow ended
        self.last_radio: list = [None] * vehicles  # the radio spec in use then
        self.ready_at = np.full(vehicles, -np.inf)  # end of a promotion under way

    def promotion_needed(self, v: int, now: float) -> bool:
        """Whether a new flow at ``now`` finds the radio idle (tail over), and no promotion under way."""
        tail = self.last_radio[v].tail.value if self.last_radio[v] is not None else 0.0
        return now >= self.ready_at[v] and now - self.last_end[v] >= tail

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


class RadioRates:
    """Each vehicle's radio rate per direction and rate interval (``interval_s``): a lognormal
    draw by the serving technology's median and p90 (counter-based per vehicle, direction and
    interval), or the rate a trace delivers then, read from the vehicle's own offset."""

    def __init__(self, keys: np.ndarray, interval_s: float, technologies: list, traces: dict | None = None):
        self.keys = keys  # (V, 2) counter keys of each vehicle's uplink / downlink draws
        self.interval_s = interval_s
        spreads = [(t.uplink, t.downlink) for t in technologies]  # per access network
        self.median = np.array([[d.median.value for d in pair] for pair in spreads]).reshape(-1, 2)
        self.p90 = np.array([[d.p90.value for d in pair] for pair in spreads]).reshape(-1, 2)
        self.traces = traces or {}  # (access, direction) -> RateTrace

    def rates(self, vehicle: np.ndarray, direction: np.ndarray, access: np.ndarray, t: float) -> np.ndarray:
        u = counter_uniform(self.keys[vehicle, direction], int(t // self.interval_s))
        out = lognormal_quantile(self.median[access, direction], self.p90[access, direction], u)
        for (a, d), trace in self.traces.items():
            rows = np.flatnonzero((access == a) & (direction == d))
            if len(rows):
                offset = np.floor(counter_uniform(self.keys[vehicle[rows], d], TRACE_OFFSET_DRAW)
                                  * trace.period_ms).astype(np.int64)
                out[rows] = trace.rates(offset, t, self.interval_s)
        return out

    def at(self, vehicle: np.ndarray, direction: int, access: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``rates`` for frames at times ``t`` (one rate interval at a time)."""
        out = np.zeros(len(t))
        slot = np.floor(np.asarray(t) / self.interval_s)
        for k in np.unique(slot).tolist():
            rows = np.flatnonzero(slot == k)
            out[rows] = self.rates(vehicle[rows], np.full(len(rows), direction), access[rows],
                                   k * self.interval_s)
        return out


NEAREST_MEC = -2
"""Destination of a stream to the MEC server of the serving cell, whichever that is."""
NEAREST_MEC_NAME = "mec"

TRACE_OFFSET_DRAW = 2 ** 62
"""Counter of the draw that places a vehicle in a trace (far from the per-interval draws)."""


class _Tables:
    """Per access network and per (access, region) path figures, as arrays."""

    def __init__(self, topology: Topology, regions: list[str]):
        accesses = topology.accesses
        nodes = [f"region:{r}" for r in regions] + topology.mec_nodes
        self.regions = {r: i for i, r in enumerate(regions)}  # destination index by region name
        self.regions.update({n: len(regions) + i for i, n in enumerate(topology.mec_nodes)})
        paths = {(a.index, g): topology.path(a.index, node) for a in accesses for g, node in enumerate(nodes)}
        width = max((len(p) for p in paths.values() if p is not None), default=0)
        shape = (len(accesses), len(nodes))
        self.hops = np.full((*shape, 2, width), -1, dtype=np.int64)
        self.loss = np.zeros(shape)
        self.latency = np.full(shape, np.nan)  # NaN: no path
        self.jitter = np.zeros(shape)
        self.mec_of = np.full(len(accesses), NONE, dtype=np.int64)  # destination of a cell's MEC server
        for (a, g), hops in paths.items():
            if hops is None:
                continue
            if g >= len(regions):
                self.mec_of[a] = g
            for k, hop in enumerate(hops):
                self.hops[a, g, :, k] = hop.resource
            self.loss[a, g] = 1 - np.prod([1 - h.loss for h in hops])
            self.latency[a, g] = sum(h.latency_s for h in hops)
            self.jitter[a, g] = math.sqrt(sum(h.jitter_s ** 2 for h in hops))
        techs = [a.technology for a in accesses]
        self.energy = np.array([[t.radio.uplink_energy.value, t.radio.downlink_energy.value]
                                for t in techs]).reshape(-1, 2)
        self.base_power = np.array([t.radio.base_power.value for t in techs])
        self.radio = [t.radio for t in techs]


class _Cursor:
    """Each vehicle's current attachment, advanced as the (monotone) clock passes changes."""

    def __init__(self, attachments: list[Attachment]):
        self.attachments = attachments
        n = len(attachments)
        self.access = np.full(n, NONE, dtype=np.int64)
        self.until = np.full(n, -np.inf)  # when the current span ends

    def one(self, vehicle: int, now: float) -> int:
        """The access network ``vehicle`` is on at ``now`` (NONE without one)."""
        return int(self.at(np.array([vehicle]), now)[0])

    def at(self, vehicles: np.ndarray, now: float) -> np.ndarray:
        for v in np.unique(vehicles[self.until[vehicles] <= now]).tolist():
            att = self.attachments[v]
            i = att.index_at(now)
            self.access[v] = att.access[i]
            self.until[v] = att.start_s[i + 1] if i + 1 < len(att.start_s) else np.inf
        return self.access[vehicles]


class FlowNetwork:
    """Transfers of all vehicles over a shared topology, as a SimPy-driven fluid model."""

    _FIELDS = ("vehicle", "direction", "region", "size", "remaining", "wire", "paused", "paused_since",
               "restart_after", "restarts", "demand", "stream")

    def __init__(self, env: simpy.Environment, topology: Topology, attachments: list[Attachment],
                 rates: RadioRates, jitter_key: np.uint64, regions: list[str]):
        self.env = env
        self.topology = topology
        self.attachments = attachments
        self.rates = rates
        self.jitter_key = jitter_key
        self.tables = _Tables(topology, regions)
        self.cursor = _Cursor(attachments)
        self.radio = RadioEnergy(len(attachments))
        self.bytes_offered = np.zeros(2)  # per direction (UP, DOWN)
        self.bytes_delivered = np.zeros(2)
        self.bytes_retransmitted = 0.0
        self.bytes_restarted = 0.0  # progress thrown away when a paused flow timed out
        self.transfers = 0
        self._serial = 0
        self._settled_at = env.now
        self._generation = 0
        self._batch_at: float | None = None
        self.events: list[tuple[simpy.Event, float, int]] = []  # per flow: done, requested at, serial
        self.state = {name: np.zeros(0) for name in self._FIELDS}
        for name in ("vehicle", "direction", "region", "restarts", "stream"):
            self.state[name] = np.zeros(0, dtype=np.int64)
        self.flows_of = np.zeros(len(attachments), dtype=np.int64)
        self._rate = np.zeros(0)  # per flow, in force since the last event: wire rate (B/s),
        self._loss = np.zeros(0)  # loss along the path,
        self._attached = np.zeros(0, dtype=bool)  # whether it has a network,
        self._joules_per_byte = np.zeros(0)  # and radio energy per byte sent;
        self._connected = np.zeros(0, dtype=np.int64)  # vehicles with a flow and a network
        self._base_power = np.zeros(0)  # and their radio's connected power
        self.stream_times: list[list[float]] = []  # per stream, when its frame rate changed
        self.stream_rates: list[list[float]] = []  # and the rate a frame is sent at from then on

    @property
    def bytes_in_flight(self) -> np.ndarray:
        """Per direction, bytes offered but not yet delivered."""
        return self.bytes_offered - self.bytes_delivered

    def remaining_bytes(self) -> float:
        """Payload the transfers under way still have to send."""
        st = self.state
        return float(st["remaining"][st["stream"] < 0].sum())

    def open_stream(self, vehicle: int, direction: int, destination: str, demand: float) -> int:
        """A flow that never ends (offloaded camera frames), capped at ``demand`` bytes/s, to a
        region or, with ``NEAREST_MEC``, to the MEC server of whichever cell serves the vehicle.

        The stream takes its max-min share like any flow, at most ``demand`` (its mean load); a
        frame is sent at the rate the stream gets while it has a frame to send
        (``frame_rates``, see ``_note_frame_rates``). Returns the stream's id.
        """
        sid = len(self.stream_times)
        self.stream_times.append([-math.inf])
        self.stream_rates.append([0.0])
        region = NEAREST_MEC if destination == NEAREST_MEC_NAME else self.tables.regions[destination]
        row = {"vehicle": vehicle, "direction": direction, "region": region, "size": math.inf,
               "remaining": math.inf, "wire": 0.0, "paused": 0.0, "paused_since": np.nan,
               "restart_after": math.inf, "restarts": 0, "demand": demand, "stream": sid}
        self._settle()
        if self.flows_of[vehicle] == 0:
            self.radio.close_tail(vehicle, self.env.now)
        for name, value in row.items():
            self.state[name] = np.append(self.state[name], value)
        self.events.append((None, self.env.now, -1))
        self.flows_of[vehicle] += 1
        self._reschedule_soon()
        return sid

    def close_stream(self, stream: int) -> None:
        """End ``stream`` now (its group detects elsewhere from now on): it leaves the shares, and a
        frame of it starting from now on has no rate. A stream reopened later is a new stream."""
        self._settle()
        st = self.state
        keep = st["stream"] != stream
        vehicle = int(st["vehicle"][~keep][0])
        self.state = {name: values[keep] for name, values in st.items()}
        self.events = [e for e, k in zip(self.events, keep, strict=True) if k]
        if len(self._rate) == len(keep):  # else a flow joined at this instant: the shares are due anyway
            self._rate, self._loss, self._attached = self._rate[keep], self._loss[keep], self._attached[keep]
        self.flows_of[vehicle] -= 1
        if self.flows_of[vehicle] == 0:
            access = self.cursor.one(vehicle, self.env.now)
            self.radio.last_end[vehicle] = self.env.now
            self.radio.last_radio[vehicle] = self.tables.radio[access] if access != NONE else None
        self._note_stream(stream, self.env.now, 0.0)
        self._reschedule_soon()

    def frame_rates(self, stream: int, t: np.ndarray) -> np.ndarray:
        """Rate (bytes/s) a frame of ``stream`` starting at each time ``t`` is sent at (0: no path)."""
        times = np.asarray(self.stream_times[stream])
        return np.asarray(self.stream_rates[stream])[np.searchsorted(times, t, side="right") - 1]

    def transfer(self, vehicle: int, direction: int, size: float, region: str,
                 restart_after_s: float = math.inf) -> simpy.Event:
        """Send ``size`` bytes; the event's value is a ``TransferResult`` once the last byte arrived.

        A flow paused (no network) for longer than ``restart_after_s`` starts over when the
        network returns: the session timed out, and its progress is counted as restarted bytes.
        """
        done = self.env.event()
        self.bytes_offered[direction] += size
        serial = self._serial
        self._serial += 1
        self.env.process(self._start(vehicle, direction, size, self.tables.regions[region],
                                     restart_after_s, done, serial))
        return done

    def finish(self) -> None:
        """Bring flows and radio energy up to the end of the run (tails cut there)."""
        self._settle()
        self.radio.finish(self.env.now)

    def _start(self, v: int, direction: int, size: float, region: int, restart_after: float,
               done: simpy.Event, serial: int):
        requested = self.env.now
        access = self.cursor.one(v, requested)
        if self.flows_of[v] == 0:
            if access != NONE and self.radio.promotion_needed(v, requested):
                radio = self.tables.radio[access]
                self.radio.close_tail(v, requested)
                self.radio.joules[v] += radio.promotion_power.value * radio.promotion.value
                self.radio.ready_at[v] = requested + radio.promotion.value
            if self.env.now < self.radio.ready_at[v]:
                yield self.env.timeout(self.radio.ready_at[v] - self.env.now)
            if self.flows_of[v] == 0:
                self.radio.close_tail(v, self.env.now)
        self._settle()
        row = {"vehicle": v, "direction": direction, "region": region, "size": size, "remaining": size,
               "wire": 0.0, "paused": 0.0, "paused_since": np.nan, "restart_after": restart_after,
               "restarts": 0, "demand": math.inf, "stream": -1}
        for name, value in row.items():
            self.state[name] = np.append(self.state[name], value)
        self.events.append((done, requested, serial))
        self.flows_of[v] += 1
        self.transfers += 1
        self._reschedule_soon()

    def _reschedule_soon(self) -> None:
        """Recompute once after every flow that starts at this instant has joined."""
        if self._batch_at != self.env.now:
            self._batch_at = self.env.now
            self._generation += 1  # any wake-up planned so far is superseded
            self.env.process(self._batched(self._generation))

    def _batched(self, generation: int):
        yield self.env.timeout(0)
        self._batch_at = None
        if generation == self._generation:
            self._reschedule()

    def _settle(self) -> None:
        """Advance every flow, and the radio energy, from the last event to now."""
        dt = self.env.now - self._settled_at
        self._settled_at = self.env.now
        if dt <= 0 or not self.events:
            return
        st = self.state
        sent = self._rate * dt
        progressed = sent * (1 - self._loss)
        st["remaining"] -= progressed
        st["wire"] += sent
        st["paused"] += np.where(self._attached, 0.0, dt)
        self.bytes_retransmitted += float((sent - progressed).sum())
        np.add.at(self.radio.joules, st["vehicle"], self._joules_per_byte * sent)
        self.radio.joules[self._connected] += self._base_power * dt

    def _reschedule(self) -> None:
        now = self.env.now
        self._generation += 1
        if not self.events:
            return
        self._share(now)
        goodput = self._rate * (1 - self._loss)
        with np.errstate(divide="ignore", invalid="ignore"):
            finish = np.where(goodput > 0, np.maximum(self.state["remaining"], 0.0) / goodput, np.inf)
        interval = self.rates.interval_s
        next_slot = (math.floor(now / interval) + 1) * interval if self._attached.any() else math.inf
        changes = float(self.cursor.until[self.state["vehicle"]].min())
        wait = min(float(finish.min()), next_slot - now, changes - now)
        self.env.process(self._wake(wait, self._generation))

    def _share(self, now: float) -> None:
        """Rates and energy terms of every flow at ``now``.

        A vehicle's radio is a flow cap when it carries one flow in a direction, and a shared
        resource when it carries several (they then share the radio's rate max-min fairly).
        """
        st, tb = self.state, self.tables
        vehicle, direction = st["vehicle"], st["direction"]
        access = self.cursor.at(vehicle, now)
        a = np.where(access != NONE, access, 0)
        region = np.where(st["region"] == NEAREST_MEC, tb.mec_of[a], st["region"])
        attached = (access != NONE) & (region != NONE)  # a MEC stream on a cell without one: no path
        self._track_pauses(now, attached)
        region = np.where(attached, region, 0)
        loss = np.where(attached, tb.loss[a, region], 0.0)
        self._joules_per_byte = np.where(attached, tb.energy[a, direction], 0.0)
        connected = np.unique(vehicle[attached])
        self._connected = connected
        first = np.zeros(len(self.attachments), dtype=np.int64)
        first[vehicle[attached]] = a[attached]  # a vehicle's flows share its one access
        self._base_power = tb.base_power[first[connected]]
        idx = np.flatnonzero(attached)
        rate = np.zeros(len(vehicle))
        if len(idx):
            radio_key = vehicle[idx] * 2 + direction[idx]
            keys, inverse, counts = np.unique(radio_key, return_inverse=True, return_counts=True)
            radio_v, radio_d = keys // 2, keys % 2
            radio_a = first[radio_v]
            radio = self.rates.rates(radio_v, radio_d, radio_a, now)
            shared = counts[inverse] > 1
            radio_cap = np.where(shared, np.inf, radio[inverse])
            cap = np.minimum(radio_cap, st["demand"][idx])
            capacity = np.concatenate([self.topology.capacity, radio])
            hops = tb.hops[a[idx], region[idx], direction[idx]]  # (n, K)
            local = np.broadcast_to(np.arange(len(idx))[:, None], hops.shape)
            real = hops >= 0
            edge_res = np.concatenate([hops[real], len(self.topology.capacity) + inverse[shared]])
            edge_flow = np.concatenate([local[real], np.flatnonzero(shared)])
            rate[idx] = max_min_rates(capacity, cap, edge_res, edge_flow)
            if (st["stream"][idx] >= 0).any():
                self._note_frame_rates(now, idx, rate[idx], cap, radio_cap, capacity, edge_res, edge_flow)
        self._note_unattached_streams(now, attached)
        self._rate, self._loss, self._attached = rate, loss, attached

    def _note_frame_rates(self, now, idx, rate, cap, radio_cap, capacity, edge_res, edge_flow) -> None:
        """Record the rate each attached stream sends a frame at: a lower bound on what it would
        get if it alone sent at full speed, the larger of (a) its share plus the spare capacity of
        every resource it crosses and (b) its max-min share with every stream's demand cap lifted."""
        streams = self.state["stream"][idx]
        mine = streams >= 0
        load = np.bincount(edge_res, weights=rate[edge_flow], minlength=len(capacity))
        spare = np.full(len(idx), np.inf)
        np.minimum.at(spare, edge_flow, capacity[edge_res] - load[edge_res])
        alone = np.minimum(radio_cap, rate + spare)
        backlogged = max_min_rates(capacity, np.where(mine, radio_cap, cap), edge_res, edge_flow)
        frame_rate = np.maximum(alone, backlogged)
        for k in np.flatnonzero(mine).tolist():
            self._note_stream(int(streams[k]), now, float(frame_rate[k]))

    def _note_unattached_streams(self, now: float, attached: np.ndarray) -> None:
        for sid in self.state["stream"][~attached & (self.state["stream"] >= 0)].tolist():
            self._note_stream(sid, now, 0.0)

    def _note_stream(self, sid: int, now: float, frame_rate: float) -> None:
        if self.stream_rates[sid][-1] != frame_rate:
            if self.stream_times[sid][-1] == now:
                self.stream_rates[sid][-1] = frame_rate
            else:
                self.stream_times[sid].append(now)
                self.stream_rates[sid].append(frame_rate)

    def _track_pauses(self, now: float, attached: np.ndarray) -> None:
        """Note when flows lose the network; restart those whose pause outlasted their session."""
        st = self.state
        since = st["paused_since"]
        lost = ~attached & np.isnan(since)
        since[lost] = now
        back = attached & ~np.isnan(since)
        timed_out = back & (now - since > st["restart_after"])
        self.bytes_restarted += float((st["size"][timed_out] - st["remaining"][timed_out]).sum())
        st["remaining"][timed_out] = st["size"][timed_out]
        st["restarts"][timed_out] += 1
        since[back] = np.nan

    def _wake(self, wait: float, generation: int):
        yield self.env.timeout(max(wait, 0.0))
        if generation != self._generation:
            return  # superseded by a later event
        self._settle()
        goodput = self._rate * (1 - self._loss)
        finished = (goodput > 0) & (self.state["remaining"] <= goodput * _FINISH_SLACK_S)
        if finished.any():
            st = self.state
            rows = {name: values[finished] for name, values in st.items()}
            leaving = [e for e, f in zip(self.events, finished, strict=True) if f]
            keep = ~finished
            self.state = {name: values[keep] for name, values in st.items()}
            self.events = [e for e, f in zip(self.events, finished, strict=True) if not f]
            self._rate, self._loss, self._attached = self._rate[keep], self._loss[keep], self._attached[keep]
            for k, (done, requested, serial) in enumerate(leaving):
                v = int(rows["vehicle"][k])
                self.flows_of[v] -= 1
                if self.flows_of[v] == 0:
                    access = self.cursor.one(v, self.env.now)
                    self.radio.last_end[v] = self.env.now
                    self.radio.last_radio[v] = self.tables.radio[access] if access != NONE else None
                self.env.process(self._deliver(done, requested, serial, {n: x[k] for n, x in rows.items()}))
        self._reschedule()

    def _deliver(self, done: simpy.Event, requested: float, serial: int, row: dict):
        sent = self.env.now
        v = int(row["vehicle"])
        access = self.cursor.one(v, sent)
        delay = 0.0
        if access != NONE:
            region = int(row["region"])
            z = float(ndtri(counter_uniform(self.jitter_key, serial)))
            delay = max(0.0, self.tables.latency[access, region] + self.tables.jitter[access, region] * z)
        yield self.env.timeout(delay)
        self.bytes_delivered[int(row["direction"])] += row["size"]
        done.succeed(TransferResult(started_s=requested, sent_s=sent, delivered_s=self.env.now,
                                    size=float(row["size"]), wire_bytes=float(row["wire"]),
                                    paused_s=float(row["paused"]), restarts=int(row["restarts"])))
