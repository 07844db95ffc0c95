"""The network: max-min sharing, flow transfers against closed forms, coverage, radio energy."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from fleetsim.hardware.specs import TechnologySpec
from fleetsim.network.coverage import ATTACHED, GAP, HANDOVER, NONE, Attachment, attachment
from fleetsim.network.flows import FlowNetwork
from fleetsim.network.sharing import max_min_rates
from fleetsim.network.topology import DOWN, UP, Topology
from fleetsim.scenario.network import Network
from fleetsim.scenario.world import Route
from fleetsim.world.routes import leg_timeline

MB = 1e6
ZERO_S = {"value": "0 s", "source": "test"}


def _reference_max_min(capacity, caps, paths):
    """Textbook progressive filling in small steps (slow, for checking)."""
    rates = np.zeros(len(caps))
    frozen = np.zeros(len(caps), dtype=bool)
    step = 1e-4
    while not frozen.all():
        rates[~frozen] += step
        used = np.zeros(len(capacity))
        for f, path in enumerate(paths):
            for r in path:
                used[r] += rates[f]
        for f, path in enumerate(paths):
            if rates[f] >= caps[f] or any(used[r] >= capacity[r] for r in path):
                frozen[f] = True
    return rates


def _edges(paths):
    res = np.array([r for p in paths for r in p], dtype=np.int64)
    flo = np.array([f for f, p in enumerate(paths) for _ in p], dtype=np.int64)
    return res, flo


def test_one_flow_gets_the_whole_capacity_and_n_flows_a_share_each():
    assert max_min_rates(np.array([12.0]), np.array([np.inf]), *_edges([[0]])).tolist() == [12.0]
    for n in (2, 3, 7):
        rates = max_min_rates(np.array([12.0]), np.full(n, np.inf), *_edges([[0]] * n))
        np.testing.assert_allclose(rates, 12.0 / n)


def test_max_min_agrees_with_textbook_progressive_filling():
    rng = np.random.default_rng(1)
    for _ in range(5):
        capacity = rng.uniform(0.5, 2.0, size=4)
        paths = [sorted(rng.choice(4, size=rng.integers(1, 4), replace=False).tolist()) for _ in range(6)]
        caps = rng.choice([np.inf, 0.2, 0.5], size=6)
        fast = max_min_rates(capacity, caps, *_edges(paths))
        np.testing.assert_allclose(fast, _reference_max_min(capacity, caps, paths), atol=2e-3)
        for r in range(4):  # no resource over capacity, and every flow has a bottleneck
            assert sum(fast[f] for f, p in enumerate(paths) if r in p) <= capacity[r] + 1e-9


def _tech(catalog, **changes) -> TechnologySpec:
    """The catalog's LTE with sharp (near-constant) per-vehicle rates, for closed forms."""
    data = catalog.technologies["lte"].model_dump(mode="json")
    for key, value in changes.items():
        node = data
        *parents, leaf = key.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return TechnologySpec.model_validate(data)


class _Flat:
    """Radio rates fixed per direction: makes transfer times closed-form."""

    interval_s = 3600.0

    def __init__(self, up: float, down: float):
        self.per_direction = np.array([up, down])

    def rates(self, vehicle, direction, access, t):
        return self.per_direction[direction]


def _network(catalog, vehicles, cell_up, radio=1e9, attachments=None, tech=None, latency_s=0.0):
    tech = tech or _tech(catalog, latency=ZERO_S, jitter=ZERO_S, loss_rate={"value": 0.0, "source": "test"})
    net = Network.model_validate({
        "backhauls": [{"name": "b", "latency": f"{latency_s} s", "source": "test"}],
        "cells": [{"name": "c", "technology": "lte", "backhaul": "b", "uplink_capacity": f"{cell_up} B/s",
                   "downlink_capacity": f"{cell_up} B/s"}]})
    topology = Topology.build(net, {"lte": tech}, [(f"v{i}", ["c"]) for i in range(vehicles)])
    attachments = attachments or [Attachment(np.zeros(1), np.zeros(1, dtype=np.int64),
                                             np.array([ATTACHED]), 0) for _ in range(vehicles)]
    env = simpy.Environment()
    return env, FlowNetwork(env, topology, attachments, _Flat(radio, radio), np.uint64(5), ["cloud"])


def _times(env, events):
    out = {}

    def watch(i, ev):
        result = yield ev
        out[i] = result

    for i, ev in enumerate(events):
        env.process(watch(i, ev))
    env.run()
    return out


def test_transfer_times_match_closed_forms(catalog):
    # 1 flow alone: size / capacity (+ backhaul latency 0.5 s)
    env, net = _network(catalog, 1, cell_up=MB, latency_s=0.5)
    promotion = catalog.technologies["lte"].radio.promotion.value
    done = _times(env, [net.transfer(0, UP, 4 * MB, "cloud")])
    assert done[0].sent_s == pytest.approx(promotion + 4.0, rel=1e-12)
    assert done[0].delivered_s == pytest.approx(promotion + 4.5, rel=1e-12)
    # N equal flows of N vehicles: each at 1/N, all done together at N x size / capacity
    env, net = _network(catalog, 4, cell_up=MB)
    done = _times(env, [net.transfer(v, UP, MB, "cloud") for v in range(4)])
    assert all(r.sent_s == pytest.approx(promotion + 4.0, rel=1e-12) for r in done.values())


def test_staggered_flows_finish_at_the_analytic_times(catalog):
    # A (size S) alone at C; B (size S) joins t1 later: both at C/2 until A ends at 2S/C - t1,
    # then B alone at C ends at 2S/C (each after its own promotion delay P).
    env, net = _network(catalog, 2, cell_up=MB)
    promotion = catalog.technologies["lte"].radio.promotion.value
    size, t1 = 3 * MB, 1.0
    events = {"a": net.transfer(0, UP, size, "cloud")}

    def later():
        yield env.timeout(t1)
        events["b"] = net.transfer(1, UP, size, "cloud")

    env.process(later())
    env.run()
    assert events["a"].value.sent_s == pytest.approx(promotion + 2 * size / MB - t1, rel=1e-9)
    assert events["b"].value.sent_s == pytest.approx(promotion + 2 * size / MB, rel=1e-9)
    assert net.bytes_delivered[UP] == net.bytes_offered[UP] == 2 * size


def _gap_from_2_to_5_s() -> Attachment:
    return Attachment(np.array([0.0, 2.0, 5.0]), np.array([0, NONE, 0]),
                      np.array([ATTACHED, GAP, ATTACHED]), 0)


def test_an_outage_pauses_a_transfer_without_losing_bytes(catalog):
    env, net = _network(catalog, 1, cell_up=MB, attachments=[_gap_from_2_to_5_s()])
    promotion = catalog.technologies["lte"].radio.promotion.value
    done = _times(env, [net.transfer(0, UP, 4 * MB, "cloud")])
    assert done[0].sent_s == pytest.approx(promotion + 4.0 + 3.0, rel=1e-12)
    assert done[0].paused_s == pytest.approx(3.0)
    assert done[0].wire_bytes == pytest.approx(4 * MB)
    assert net.bytes_delivered[UP] == 4 * MB and net.bytes_in_flight[UP] == 0


def test_a_pause_longer_than_the_session_restarts_the_flow(catalog):
    env, net = _network(catalog, 1, cell_up=MB, attachments=[_gap_from_2_to_5_s()])
    promotion = catalog.technologies["lte"].radio.promotion.value
    done = _times(env, [net.transfer(0, DOWN, 4 * MB, "cloud", restart_after_s=1.0)])
    progress = (2.0 - promotion) * MB
    assert done[0].restarts == 1 and net.bytes_restarted == pytest.approx(progress)
    assert done[0].sent_s == pytest.approx(5.0 + 4.0, rel=1e-12)
    assert done[0].wire_bytes == pytest.approx(4 * MB + progress)


def test_loss_costs_retransmissions(catalog):
    tech = _tech(catalog, loss_rate={"value": 0.1, "source": "test"}, latency=ZERO_S, jitter=ZERO_S)
    env, net = _network(catalog, 1, cell_up=MB, tech=tech)
    promotion = tech.radio.promotion.value
    done = _times(env, [net.transfer(0, UP, 9 * MB, "cloud")])
    assert done[0].sent_s == pytest.approx(promotion + 9.0 / 0.9, rel=1e-12)
    assert net.bytes_retransmitted == pytest.approx(9 * MB * 0.1 / 0.9, rel=1e-9)


def test_bytes_offered_are_delivered_or_in_flight_at_every_moment(catalog):
    env, net = _network(catalog, 3, cell_up=MB)
    rng = np.random.default_rng(0)
    sizes = rng.uniform(0.1, 2.0, size=12) * MB

    def sender(v, size, at):
        yield env.timeout(at)
        yield net.transfer(v, UP, size, "cloud")

    for k, size in enumerate(sizes):
        env.process(sender(k % 3, size, float(rng.uniform(0, 10))))
    for t in np.linspace(0.5, 40, 30):
        env.run(until=t)
        net._settle()
        moving = net.remaining_bytes()
        assert net.bytes_offered[UP] == pytest.approx(net.bytes_delivered[UP] + net.bytes_in_flight[UP])
        assert moving <= net.bytes_in_flight[UP] + 1e-6
    assert net.bytes_delivered[UP] == pytest.approx(sizes.sum())


def test_radio_energy_known_answer(catalog):
    radio = catalog.technologies["lte"].radio
    active = (radio.promotion_power.value * radio.promotion.value + radio.base_power.value * 2.0
              + radio.uplink_energy.value * 2 * MB)
    for after, tail in ((0.0, 0.0), (4.0, 4.0), (100.0, radio.tail.value)):  # the tail is cut at the end
        env, net = _network(catalog, 1, cell_up=MB)
        _times(env, [net.transfer(0, UP, 2 * MB, "cloud")])
        if after:
            env.run(until=env.now + after)
        net.finish()
        assert net.radio.joules[0] == pytest.approx(active + radio.tail_power.value * tail, rel=1e-9)


def test_a_flow_inside_the_tail_needs_no_promotion(catalog):
    radio = catalog.technologies["lte"].radio
    env, net = _network(catalog, 1, cell_up=MB)

    def two():
        first = yield net.transfer(0, UP, MB, "cloud")
        yield env.timeout(3.0)
        second = yield net.transfer(0, UP, MB, "cloud")
        return first, second

    proc = env.process(two())
    env.run()
    first, second = proc.value
    assert second.sent_s - second.started_s == pytest.approx(1.0)  # no promotion delay
    net.finish()
    expected = (radio.promotion_power.value * radio.promotion.value + radio.base_power.value * 2.0
                + radio.uplink_energy.value * 2 * MB + radio.tail_power.value * 3.0)
    assert net.radio.joules[0] == pytest.approx(expected, rel=1e-9)


def test_route_coverage_gaps_and_handovers(catalog):
    route = Route.model_validate({"name": "r", "legs": [
        {"length": "10 km", "speed": "36 km/h", "cell": "a"},  # 1000 s
        {"length": "1 km", "speed": "36 km/h"},                # 100 s gap
        {"length": "5 km", "speed": "36 km/h", "cell": "b"},   # 500 s
        {"depot": "d", "duration": "400 s"}]})
    lte = catalog.technologies["lte"]
    horizon = 2000 * 50.0
    legs = leg_timeline(route, 0.0, horizon)
    att = attachment(route, legs, {"a": 0, "b": 1}, {"d": 2}, {0: lte.handover, 1: lte.handover, 2: None},
                     np.uint64(3), horizon)
    assert att.time_in(GAP, horizon) == pytest.approx(50 * 100.0)
    # per lap: Poisson handovers at the mean spacing over 15 km of cells, plus entering b from
    # the gap and a from the depot
    expected = 50 * (15_000 / lte.handover.spacing.value + 2)
    assert att.handovers == pytest.approx(expected, rel=0.05)
    mean = att.time_in(HANDOVER, horizon) / att.handovers
    median = lte.handover.interruption_median.value
    assert median < mean < lte.handover.interruption_p90.value  # lognormal: mean above median
    assert att.access_at(1050.0) == NONE and att.access_at(1700.0) == 2


def test_a_trace_drives_the_radio_rate(tmp_path, small_data, catalog):
    import fleetsim
    from fleetsim.errors import ScenarioError
    from tests.conftest import write_yaml

    # a packet every 2 ms: 750 kB/s for every vehicle, whatever its offset
    (tmp_path / "flat.trace").write_text("".join(f"{t}\n" for t in range(2, 10_001, 2)))
    small_data["network"]["traces"] = [{"technology": "lte", "uplink": "flat.trace", "source": "test"}]
    small_data["network"]["cells"][0]["uplink_capacity"] = "1 Gbit/s"
    results = fleetsim.run(write_yaml(tmp_path, small_data))
    lte = results.tables["uploads"].query("technology == 'lte' and paused_s == 0")
    promotion = catalog.technologies["lte"].radio.promotion.value
    took, sending = lte["t_end_s"] - lte["t_start_s"], lte["bytes"] / 750e3
    # promotion (when the radio was idle), the bytes at the trace's rate, latency and jitter
    assert len(lte) > 5 and ((took >= sending) & (took <= sending + promotion + 0.2)).all()
    (tmp_path / "bad.trace").write_text("12\nfast\n")
    small_data["network"]["traces"][0]["uplink"] = "bad.trace"
    with pytest.raises(ScenarioError, match=r"bad.trace:2: network.traces\[0\].uplink: 'fast' is not"):
        fleetsim.run(write_yaml(tmp_path, small_data))
