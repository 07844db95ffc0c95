"""Build a run's network from its scenario: topology, each vehicle's attachments, flows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import simpy

from fleetsim.network.coverage import ATTACHED, Attachment, attachment
from fleetsim.network.flows import FlowNetwork, RadioRates
from fleetsim.network.topology import Topology
from fleetsim.network.traces import read_trace
from fleetsim.rng import component_key, counter_uniform
from fleetsim.scenario.models import Scenario
from fleetsim.scenario.world import Drive
from fleetsim.world.routes import leg_timeline


def _places(scenario: Scenario, group) -> list[str]:
    """Names of the access networks a group's vehicles may attach to."""
    if group.cell is not None:
        return [group.cell]
    route = next(r for r in scenario.world.routes if r.name == group.route)
    names = [leg.cell if isinstance(leg, Drive) else leg.depot for leg in route.legs]
    return sorted({n for n in names if n is not None})


def build_network(env: simpy.Environment, scenario: Scenario, technologies: dict,
                  vehicles: list, base_dir: Path | None = None) -> FlowNetwork:
    """The FlowNetwork of ``vehicles`` (in index order) driving their groups' routes; trace
    files are read relative to ``base_dir`` (the scenario's folder)."""
    seed = scenario.simulation.seed
    horizon = scenario.simulation.duration
    topology = Topology.build(scenario.network, technologies,
                              [(v.name, _places(scenario, v.spec)) for v in vehicles])
    index = {a.name: a.index for a in topology.accesses}
    cells = {c.name: index[c.name] for c in scenario.network.cells}
    depots = {d.name: index[d.name] for d in scenario.network.depots}
    handover = {a.index: a.technology.handover for a in topology.accesses}
    routes = {r.name: r for r in scenario.world.routes}
    attachments = []
    for v in vehicles:
        group = v.spec
        if group.cell is not None:
            attachments.append(Attachment(start_s=np.zeros(1), access=np.array([index[group.cell]]),
                                          state=np.array([ATTACHED]), handovers=0))
            continue
        route = routes[group.route]
        start = float(counter_uniform(component_key(seed, "route", group.name, v.local_index), 0))
        legs = leg_timeline(route, start, horizon)
        key = component_key(seed, "handovers", group.name, v.local_index)
        attachments.append(attachment(route, legs, cells, depots, handover, key, horizon))
    keys = np.array([[component_key(seed, "radio_rate", v.spec.name, v.local_index, d) for d in (0, 1)]
                     for v in vehicles], dtype=np.uint64).reshape(len(vehicles), 2)
    traces = {}
    for i, spec in enumerate(scenario.network.traces):
        for d, name in enumerate(("uplink", "downlink")):
            file = getattr(spec, name)
            if file is None:
                continue
            path = Path(file) if Path(file).is_absolute() or base_dir is None else base_dir / file
            trace = read_trace(path, f"network.traces[{i}].{name}")
            for a in topology.accesses:
                if a.technology.id == spec.technology:
                    traces[(a.index, d)] = trace
    rates = RadioRates(keys, scenario.network.rate_interval, [a.technology for a in topology.accesses],
                       traces)
    return FlowNetwork(env, topology, attachments, rates, component_key(seed, "jitter"),
                       list(scenario.network.regions))
