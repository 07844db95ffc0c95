"""A link direction whose concurrent transfers share capacity max-min fairly.

Rates are recomputed whenever a transfer starts or ends; a transfer's last byte is
delivered after its bytes have crossed at the fair rate plus the one-way latency.
Every byte offered is either delivered or still in flight, always.

>>> import simpy
>>> env = simpy.Environment()
>>> up = LinkDirection(env, capacity=100.0, per_flow_cap=100.0, latency=0.5)
>>> done = up.transfer(200.0)
>>> env.run(done)  # seconds from start to the last byte's arrival
2.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from fleetsim.network.sharing import max_min_rates

_FINISH_SLACK_S = 1e-9
"""A flow with less than this much transfer time left counts as finished (float rounding)."""


@dataclass(eq=False)
class _Flow:
    size: float
    remaining: float
    cap: float
    done: simpy.Event
    rate: float = 0.0
    started: float = field(default=0.0)


class LinkDirection:
    """One direction (uplink or downlink) of a link shared by many vehicles."""

    def __init__(self, env: simpy.Environment, capacity: float | None, per_flow_cap: float,
                 latency: float):
        if not math.isfinite(per_flow_cap) and capacity is None:
            raise ValueError("a link direction needs a finite per-flow cap or capacity")
        self.env = env
        self.capacity = math.inf if capacity is None else capacity
        self.per_flow_cap = per_flow_cap
        self.latency = latency
        self.flows: list[_Flow] = []
        self.bytes_offered = 0.0
        self.bytes_delivered = 0.0
        self._settled_at = env.now
        self._generation = 0

    @property
    def bytes_in_flight(self) -> float:
        """Bytes offered but not yet delivered (still crossing or propagating)."""
        return self.bytes_offered - self.bytes_delivered

    def transfer(self, size: float) -> simpy.Event:
        """Start sending ``size`` bytes; the event fires when the last byte has arrived."""
        self._settle()
        done = self.env.event()
        self.bytes_offered += size
        self.flows.append(_Flow(size, size, self.per_flow_cap, done, started=self.env.now))
        self._reschedule()
        return done

    def _settle(self) -> None:
        elapsed = self.env.now - self._settled_at
        if elapsed > 0:
            for flow in self.flows:
                flow.remaining -= flow.rate * elapsed
        self._settled_at = self.env.now

    def _reschedule(self) -> None:
        rates = max_min_rates(self.capacity, [f.cap for f in self.flows])
        for flow, rate in zip(self.flows, rates, strict=True):
            flow.rate = rate
        self._generation += 1
        if self.flows:
            wait = min(max(f.remaining, 0.0) / f.rate for f in self.flows)
            self.env.process(self._wake(wait, self._generation))

    def _wake(self, wait: float, generation: int):
        yield self.env.timeout(wait)
        if generation != self._generation:
            return  # superseded by a later start or finish
        self._settle()
        finished = [f for f in self.flows if f.remaining <= f.rate * _FINISH_SLACK_S]
        self.flows = [f for f in self.flows if f not in finished]
        for flow in finished:
            self.env.process(self._deliver(flow))
        self._reschedule()

    def _deliver(self, flow: _Flow):
        if self.latency > 0:
            yield self.env.timeout(self.latency)
        self.bytes_delivered += flow.size
        flow.done.succeed(self.env.now - flow.started)


class SharedLink:
    """A named link (e.g. an LTE cell) with an uplink and a downlink direction."""

    def __init__(self, env: simpy.Environment, spec) -> None:
        self.spec = spec
        self.up = LinkDirection(env, spec.uplink_capacity, spec.uplink, spec.latency)
        self.down = LinkDirection(env, spec.downlink_capacity, spec.downlink, spec.latency)
