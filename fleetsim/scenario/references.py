"""Checks between sections and against the hardware catalog: names that must exist.

Each check returns ``(path, message)`` pairs; the loader turns them into located issues.
The catalog is passed in (any object with ``devices``, ``workloads`` and ``technologies``
by id), so this module stays free of the hardware package.
"""

from __future__ import annotations

import difflib

from fleetsim.scenario.cloud import NeverRetrain
from fleetsim.scenario.models import Scenario
from fleetsim.scenario.world import Drive

Path = tuple[str | int, ...]
FINE_TUNABLE = ("int8", "fp32", "fp16", "int8_per_tensor", "int8_qat", "pruned25_int8", "pruned50_int8",
                "pruned75_int8", "student25_gt_int8", "student25_kd_int8", "student50_gt_int8",
                "student50_kd_int8")
"""Detector variants a training job re-makes: from its fine-tune of the shipped baseline's torch weights, or
(pruned variants, students) from a fine-tune of the variant's own shipped torch weights."""


def unknown_name_message(what: str, name: str, known: list[str]) -> str:
    """``unknown <what> 'name' (did you mean 'x'? allowed: a, b, ...)``."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {what} '{name}' ({hint}allowed: {', '.join(sorted(known)) or 'none'})"


def _devices(catalog, kind: str) -> list[str]:
    return sorted(i for i, d in catalog.devices.items() if d.kind == kind)


def check_references(scenario: Scenario, catalog) -> list[tuple[Path, str]]:
    """Every cross-reference problem in ``scenario``."""
    problems: list[tuple[Path, str]] = _network_references(scenario)
    problems += _technology_references(scenario, catalog)
    edge = _devices(catalog, "edge")
    routes = [r.name for r in scenario.world.routes]
    places = [c.name for c in scenario.network.cells] + [d.name for d in scenario.network.depots]
    for i, group in enumerate(scenario.fleet.groups):
        base: Path = ("fleet", "groups", i)
        if group.route is not None and group.route not in routes:
            problems.append(((*base, "route"), unknown_name_message("route", group.route, routes)))
        if group.cell is not None and group.cell not in places:
            problems.append(((*base, "cell"), unknown_name_message("cell or depot", group.cell, places)))
        if group.accelerator not in edge:
            problems.append(((*base, "accelerator"),
                             unknown_name_message("edge hardware model", group.accelerator, edge)))
            continue
        device = catalog.devices[group.accelerator]
        usable = sorted({p.precision for p in device.calibration if p.precision in device.peak})
        if group.precision not in usable:
            problems.append(((*base, "precision"),
                             f"{group.accelerator} has no calibrated {group.precision} model "
                             f"(allowed: {', '.join(usable) or 'none'})"))
        if group.power_mode is not None and group.power_mode not in device.power_modes:
            problems.append(((*base, "power_mode"), f"{group.accelerator} has no power mode "
                             f"'{group.power_mode}' (allowed: {', '.join(device.power_modes) or 'none'})"))
        cpus = [d for d in edge if catalog.devices[d].accelerator_class == "cpu"]
        if group.host is not None and group.host not in cpus:
            problems.append(((*base, "host"), unknown_name_message("host CPU", group.host, cpus)))
        throttling = group.faults.thermal_throttling
        if throttling is not None and device.thermal is None:
            missing = [f for f in ("after", "sustained_fraction") if getattr(throttling, f) is None]
            if missing:
                problems.append(((*base, "faults", "thermal_throttling"),
                                 f"{group.accelerator} has no sourced thermal figures; set "
                                 f"{' and '.join(missing)} (allowed: after as a duration, "
                                 f"sustained_fraction in (0, 1])"))
    for i, cluster in enumerate(scenario.cloud.clusters):
        problems += _pool_references(cluster, ("cloud", "clusters", i), catalog)
    policy = scenario.cloud.retraining
    clusters = [c.name for c in scenario.cloud.clusters]
    if not isinstance(policy, NeverRetrain) and policy.cluster not in clusters:
        problems.append((("cloud", "retraining", "cluster"),
                         unknown_name_message("cluster", policy.cluster, clusters)))
    if not isinstance(policy, NeverRetrain):
        problems += _retrainable(scenario)
    problems += _region_references(scenario)
    problems += _placement_references(scenario, catalog)
    problems += _teacher_references(scenario, catalog)
    if scenario.detector.workload is not None and scenario.detector.workload not in catalog.workloads:
        workload = scenario.detector.workload
        problems.append((("detector", "workload"),
                         unknown_name_message("workload", workload, list(catalog.workloads))))
    return problems


def _retrainable(scenario: Scenario) -> list[tuple[Path, str]]:
    """Every variant the fleet runs can be re-made from a fine-tune of torch weights that ship."""
    problems, seen = [], set()
    for i, group in enumerate(scenario.fleet.groups):
        variant = scenario.variant_of(group)
        if variant in FINE_TUNABLE or variant in seen:
            continue
        seen.add(variant)
        where = ("fleet", "groups", i, "variant") if group.variant else ("detector", "model")
        problems.append((where, f"retraining re-makes each variant the fleet runs from a fine-tune of "
                                f"shipped torch weights (the baseline's or the variant's own); {variant!r} "
                                f"has none "
                                f"(allowed with cloud.retraining: {', '.join(FINE_TUNABLE)})"))
    return problems


def _pool_references(cluster, base: Path, catalog) -> list[tuple[Path, str]]:
    """Every node pool names a cloud device that can cost training, and is spot only where the
    device has spot figures."""
    cloud = _devices(catalog, "cloud")
    trainable = [d for d in cloud if "bf16" in catalog.devices[d].peak]  # inference-only cards are not
    spot = sorted(d for d in cloud if catalog.devices[d].spot is not None)
    problems: list[tuple[Path, str]] = []
    for j, pool in enumerate(cluster.node_pools):
        where = base if cluster.pools is None else (*base, "pools", j)
        device = catalog.devices.get(pool.device) if pool.device in cloud else None
        if device is None:
            problems.append(((*where, "device"),
                             unknown_name_message("cloud hardware model", pool.device, trainable)))
            continue
        if "bf16" not in device.peak:
            problems.append(((*where, "device"), f"{pool.device} has no bf16 peak to cost training with "
                             f"(allowed: {', '.join(trainable)})"))
        if device.training is None:
            for name in ("mfu", "startup"):
                if getattr(pool, name) is None and getattr(cluster, name) is None:
                    problems.append(((*where, name), f"{pool.device} has no training figures; set {name} "
                                     f"(allowed: a value with its source in the cluster's source)"))
        if pool.capacity == "spot" and device.spot is None:
            problems.append(((*where, "capacity"), f"{pool.device} has no sourced spot figures, so it cannot "
                             f"be spot (allowed: on_demand, or spot on {', '.join(spot) or 'none'})"))
    return problems


def _network_references(scenario: Scenario) -> list[tuple[Path, str]]:
    """Backhauls lead to known regions, cells and depots to known backhauls, route legs to
    known cells and depots."""
    net = scenario.network
    problems: list[tuple[Path, str]] = []
    regions, backhauls = list(net.regions), [b.name for b in net.backhauls]
    for i, b in enumerate(net.backhauls):
        if b.region not in regions:
            problems.append((("network", "backhauls", i, "region"),
                             unknown_name_message("region", b.region, regions)))
    if scenario.cloud.region not in regions:
        problems.append((("cloud", "region"), unknown_name_message("region", scenario.cloud.region, regions)))
    for kind in ("cells", "depots"):
        for i, item in enumerate(getattr(net, kind)):
            if item.backhaul not in backhauls:
                problems.append((("network", kind, i, "backhaul"),
                                 unknown_name_message("backhaul", item.backhaul, backhauls)))
    cells, depots = [c.name for c in net.cells], [d.name for d in net.depots]
    for r, route in enumerate(scenario.world.routes):
        for j, leg in enumerate(route.legs):
            where = ("world", "routes", r, "legs", j)
            name, known, what = ((leg.cell, cells, "cell") if isinstance(leg, Drive)
                                 else (leg.depot, depots, "depot"))
            if name is not None and name not in known:
                problems.append(((*where, what), unknown_name_message(what, name, known)))
    return problems


def _technology_references(scenario: Scenario, catalog) -> list[tuple[Path, str]]:
    """Cells name cell technologies of the catalog, depots depot ones, traces any."""
    technologies = catalog.technologies
    problems = []
    for kind, access in (("cells", "cell"), ("depots", "depot")):
        known = sorted(i for i, t in technologies.items() if t.access == access)
        for i, item in enumerate(getattr(scenario.network, kind)):
            if item.technology not in known:
                problems.append((("network", kind, i, "technology"),
                                 unknown_name_message(f"{access} technology", item.technology, known)))
    for i, traces in enumerate(scenario.network.traces):
        if traces.technology not in technologies:
            problems.append((("network", "traces", i, "technology"),
                             unknown_name_message("technology", traces.technology, list(technologies))))
    return problems


def _region_references(scenario: Scenario) -> list[tuple[Path, str]]:
    """Groups and condition events must name regions listed in world.regions."""
    regions = list(scenario.world.regions)
    problems: list[tuple[Path, str]] = []
    for i, group in enumerate(scenario.fleet.groups):
        if group.region not in regions:
            problems.append((("fleet", "groups", i, "region"),
                             unknown_name_message("region", group.region, regions)))
    conditions = scenario.world.conditions
    events = [(("world", "conditions", "weather", i), e) for i, e in enumerate(conditions.weather)]
    if conditions.novelty is not None:
        events.append((("world", "conditions", "novelty"), conditions.novelty))
    for base, event in events:
        for j, region in enumerate(event.regions or []):
            if region not in regions:
                problems.append(((*base, "regions", j), unknown_name_message("region", region, regions)))
    return problems


def _placement_references(scenario: Scenario, catalog) -> list[tuple[Path, str]]:
    """Offloading groups need a server to offload to; servers name known cells and devices."""
    problems: list[tuple[Path, str]] = []
    cells = [c.name for c in scenario.network.cells]
    servers = [(("network", "mec", i), m) for i, m in enumerate(scenario.network.mec)]
    if scenario.cloud.inference is not None:
        servers.append((("cloud", "inference"), scenario.cloud.inference))
    for base, server in servers:
        for j, cell in enumerate(getattr(server, "cells", [])):
            if cell not in cells:
                problems.append(((*base, "cells", j), unknown_name_message("cell", cell, cells)))
        if server.accelerator not in catalog.devices:
            problems.append(((*base, "accelerator"), unknown_name_message(
                "hardware model", server.accelerator, list(catalog.devices))))
        elif server.precision not in catalog.devices[server.accelerator].peak:
            allowed = ", ".join(sorted(catalog.devices[server.accelerator].peak))
            problems.append(((*base, "precision"),
                             f"{server.accelerator} cannot run {server.precision} (allowed: {allowed})"))
    served = {c for m in scenario.network.mec for c in m.cells}
    for i, group in enumerate(scenario.fleet.groups):
        where = ("fleet", "groups", i, "placement")
        if group.placement != "onboard" and scenario.simulation.mode == "reference":
            problems.append((where, f"placement {group.placement!r} runs only in the vectorised mode "
                             "(allowed with simulation.mode: reference: onboard)"))
        if group.placement == "cloud" and scenario.cloud.inference is None:
            problems.append((where, "placement 'cloud' needs cloud.inference (allowed: onboard, or mec "
                             "with network.mec)"))
        if group.placement == "mec" and not served & set(group_cells(scenario, group)):
            problems.append((where, "placement 'mec' needs a network.mec server on one of the group's "
                             f"cells ({', '.join(group_cells(scenario, group)) or 'none'})"))
    return problems


def group_cells(scenario: Scenario, group) -> list[str]:
    """Cells a group's vehicles may be served by."""
    if group.cell is not None:
        return [group.cell]
    route = next((r for r in scenario.world.routes if r.name == group.route), None)
    legs = route.legs if route is not None else []
    return sorted({leg.cell for leg in legs if isinstance(leg, Drive) and leg.cell is not None})


def _teacher_references(scenario: Scenario, catalog) -> list[tuple[Path, str]]:
    """A teacher labeller runs at fp32 on a priced cloud device."""
    labeler = scenario.cloud.labeling.labeler
    cloud = _devices(catalog, "cloud")
    if getattr(labeler, "kind", None) != "teacher":
        return []
    where = ("cloud", "labeling", "labeler", "device")
    if labeler.device not in cloud:
        return [(where, unknown_name_message("cloud hardware model", labeler.device, cloud))]
    device = catalog.devices[labeler.device]
    if "fp32" not in device.peak or device.hourly_price is None:
        usable = [d for d in cloud if "fp32" in catalog.devices[d].peak and catalog.devices[d].hourly_price]
        return [(where, f"{labeler.device} cannot price an fp32 teacher (allowed: {', '.join(usable)})")]
    return []
