"""Shared links: max-min fair flows checked against closed forms, and bytes conserved."""

from __future__ import annotations

import math

import pytest
import simpy

from fleetsim.network.link import LinkDirection
from fleetsim.network.sharing import max_min_rates


def test_max_min_rates_water_filling():
    assert max_min_rates(10.0, [2.0, 8.0, 8.0]) == [2.0, 4.0, 4.0]
    assert max_min_rates(math.inf, [3.0, 5.0]) == [3.0, 5.0]
    assert max_min_rates(9.0, [10.0, 10.0, 10.0]) == [3.0, 3.0, 3.0]


def _finish_times(env, link, starts_sizes):
    done = {}

    def flow(name, start, size):
        yield env.timeout(start)
        yield link.transfer(size)
        done[name] = env.now

    for name, (start, size) in starts_sizes.items():
        env.process(flow(name, start, size))
    env.run()
    return done


def test_one_flow_gets_the_full_capacity_plus_latency():
    env = simpy.Environment()
    link = LinkDirection(env, capacity=1e6, per_flow_cap=math.inf, latency=0.05)
    done = _finish_times(env, link, {"a": (0.0, 2e6)})
    assert done["a"] == pytest.approx(2.0 + 0.05)


def test_n_equal_flows_each_get_one_nth():
    env = simpy.Environment()
    link = LinkDirection(env, capacity=1e6, per_flow_cap=math.inf, latency=0.0)
    done = _finish_times(env, link, {i: (0.0, 1e6) for i in range(4)})
    assert all(t == pytest.approx(4.0) for t in done.values())


def test_staggered_flows_finish_at_analytic_times():
    # A: 3 MB at t=0; B: 1 MB at t=1; C = 1 MB at t=1.5, capacity 1 MB/s.
    # 0-1: A alone (A left 2). 1-1.5: A,B at 0.5 (A 1.75, B 0.75).
    # 1.5-: three flows at 1/3: B ends after 2.25 s -> 3.75 (A 1.0, C 0.25).
    # then A, C at 0.5: C ends at 4.25 (A 0.75), A alone ends at 5.0.
    env = simpy.Environment()
    link = LinkDirection(env, capacity=1e6, per_flow_cap=math.inf, latency=0.0)
    done = _finish_times(env, link, {"A": (0.0, 3e6), "B": (1.0, 1e6), "C": (1.5, 1e6)})
    assert done["B"] == pytest.approx(3.75)
    assert done["C"] == pytest.approx(4.25)
    assert done["A"] == pytest.approx(5.0)


def test_per_flow_cap_leaves_capacity_to_others():
    env = simpy.Environment()
    link = LinkDirection(env, capacity=10.0, per_flow_cap=4.0, latency=0.0)
    done = _finish_times(env, link, {"a": (0.0, 8.0), "b": (0.0, 8.0)})
    assert done["a"] == pytest.approx(2.0) and done["b"] == pytest.approx(2.0)


def test_bytes_offered_equal_delivered_plus_in_flight_at_all_times():
    env = simpy.Environment()
    link = LinkDirection(env, capacity=1e6, per_flow_cap=4e5, latency=0.1)
    seen = []

    def sender(i):
        yield env.timeout(0.3 * i)
        yield link.transfer(1e5 * (i + 1))

    def watcher():
        while True:
            seen.append((link.bytes_offered, link.bytes_delivered, link.bytes_in_flight))
            yield env.timeout(0.05)

    for i in range(10):
        env.process(sender(i))
    env.process(watcher())
    env.run(until=20)
    assert all(off == pytest.approx(dlv + fl) for off, dlv, fl in seen)
    assert link.bytes_delivered == pytest.approx(sum(1e5 * (i + 1) for i in range(10)))
    assert link.bytes_in_flight == pytest.approx(0.0)
