"""The run object: one simulation's parts, built and wired in one readable place.

``Run`` owns the clock, the catalog, the event log, the fleet (behind its facade), the
network and the cloud, and hands each part the few typed things it needs; ``run``
validates a scenario, runs it and returns its Results.

>>> from fleetsim import run                     # doctest: +SKIP
>>> results = run("scenarios/quickstart.yaml")   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import simpy

from fleetsim.clock import Clock
from fleetsim.cloud.collectors import RetrainingResults, StoreResults
from fleetsim.cloud.compiling import CompiledDownloads, TargetCompiles, compile_targets
from fleetsim.cloud.labeling import make_labeler
from fleetsim.cloud.loop import RetrainingLoop
from fleetsim.cloud.policy import Lineage, Observer, Trainer, make_trigger
from fleetsim.cloud.rollout import BYTES_PER_PARAM, make_rollout
from fleetsim.cloud.store import SampleStore
from fleetsim.cloud.training import TrainingCluster
from fleetsim.detector.baseline import baseline_path
from fleetsim.detector.registry import ModelRegistry, resolve_model
from fleetsim.detector.runtime import model_precision
from fleetsim.detector.variants import teacher_path
from fleetsim.edge.collectors import DetectionResults, FrameResults, OffloadResults, VehicleResults
from fleetsim.edge.detection import FleetDetection
from fleetsim.edge.facade import Fleet
from fleetsim.edge.faults import Outages, outage_schedule, throttled_device
from fleetsim.edge.fleet import GroupMembers, UploadBuffer, Vehicle
from fleetsim.edge.offload import build_offloading
from fleetsim.edge.perception import ReferencePerception, VectorisedPerception
from fleetsim.edge.placing import Placer
from fleetsim.edge.recorded import RecordedDetections
from fleetsim.edge.uploads import upload_process
from fleetsim.hardware.catalog import Catalog, load_catalog
from fleetsim.hardware.graph import workload_from_graph
from fleetsim.hardware.inference import frame_legs, inference_cost
from fleetsim.hardware.power_modes import at_power_mode
from fleetsim.hardware.workload import Workload, compressed
from fleetsim.memory import give_back_freed_memory
from fleetsim.metrics.events import EventLog
from fleetsim.metrics.hardware_cost import HardwareCost
from fleetsim.metrics.ledger import FleetLayout, FrameLedger
from fleetsim.network.build import build_network
from fleetsim.network.collector import NetworkResults
from fleetsim.policies import checked_policies
from fleetsim.results import Collector, Results, build_results
from fleetsim.rng import component_key
from fleetsim.scenario.loader import load_scenario, require_valid
from fleetsim.scenario.model_file import shipped_precision
from fleetsim.scenario.models import Scenario

if TYPE_CHECKING:
    from fleetsim.cloud.finetune import FineTuner

ProgressCallback = Callable[[float, float], None]
PROGRESS_STEPS = 200
Phases = Callable[[str, "Run | None"], contextlib.AbstractContextManager]
"""``run``'s watcher of its phases: called with each phase's name (``"building"``, ``"simulating"``,
``"results"``, in that order) and the run (None while it is built), it gives the context manager the
phase runs inside."""


def costed_workload(scenario: Scenario, catalog: Catalog, model: Path, baseline: Workload | None) -> Workload:
    """The workload the hardware models cost for the detector graph ``model``: the graph itself, or with
    ``detector.workload`` that production workload compressed as ``model`` is against ``baseline`` (the
    int8 baseline's graph; ``fleetsim.hardware.workload.compressed``)."""
    graph = workload_from_graph(model)
    if scenario.detector.workload is None:
        return graph
    return compressed(catalog.profile(scenario.detector.workload), graph, baseline)


def download_bytes(scenario: Scenario, files: dict[str, Path],
                   workloads: dict[str, Workload]) -> dict[str, float]:
    """Bytes of each group's model download (by group name): its variant's costed weights (a production
    workload's compressed as the variant is) at its variant's precision."""
    sizes = {}
    for group in scenario.fleet.groups:
        variant = scenario.variant_of(group)
        precision = shipped_precision(variant) or model_precision(files[variant])
        sizes[group.name] = workloads[variant].spec.params.value * BYTES_PER_PARAM[precision]
    return sizes


def _build_fleet(scenario: Scenario, catalog: Catalog, workloads: dict[str, Workload]) -> list[GroupMembers]:
    seed = scenario.simulation.seed
    groups, index = [], 0
    for g, spec in enumerate(scenario.fleet.groups):
        variant = scenario.variant_of(spec)
        workload = workloads[variant]
        device = at_power_mode(catalog.device(spec.accelerator, "edge"), spec.power_mode)
        host = catalog.vehicle_host(spec.accelerator, spec.host)
        cost = inference_cost(device, workload, spec.precision, catalog, host=host)
        throttled, throttle_at = None, np.inf
        if spec.faults.thermal_throttling is not None:
            hot = throttled_device(device, spec.faults.thermal_throttling,
                                   f"fleet.groups[{g}].faults.thermal_throttling")
            throttled = inference_cost(hot, workload, spec.precision, catalog, throttled=True, host=host)
            throttle_at = hot.thermal.time_to_throttle.value
        legs = tuple(frame_legs(device, workload, spec.precision, catalog, cost, w * h, host=host)
                     for w, h in (cam.resolution for cam in spec.cameras))
        hot_legs = () if throttled is None else tuple(
            frame_legs(device, workload, spec.precision, catalog, throttled, w * h, host=host)
            for w, h in (cam.resolution for cam in spec.cameras))
        failures = spec.faults.failures
        vehicles = []
        for i in range(spec.count):
            failure_key = component_key(seed, "failures", spec.name, i) if failures else None
            outages = (outage_schedule(failure_key, failures, scenario.simulation.duration)
                       if failures else Outages.none())
            vehicles.append(Vehicle(index=index, name=f"{spec.name}_{i:04d}", group_index=g, local_index=i,
                                    spec=spec, inference=cost, variant=variant,
                                    selection_key=component_key(seed, "selection", spec.name, i),
                                    samples=UploadBuffer(spec.uploads.buffer, spec.uploads.sample_size,
                                                         spec.uploads.eviction),
                                    throttled=throttled, throttle_at_s=throttle_at,
                                    failure_key=failure_key, outages=outages,
                                    legs=legs, throttled_legs=hot_legs))
            index += 1
        groups.append(GroupMembers(index=g, spec=spec, vehicles=vehicles))
    return groups


def _layout(groups: list[GroupMembers], catalog: Catalog) -> FleetLayout:
    vehicles = [v for g in groups for v in g.vehicles]
    device = [catalog.devices[v.spec.accelerator] for v in vehicles]
    return FleetLayout(
        group=np.array([v.group_index for v in vehicles], dtype=np.int64),
        group_names=[g.spec.name for g in groups],
        vehicle_names=[v.name for v in vehicles],
        deadline_s=np.array([v.spec.deadline for v in vehicles]),
        # while busy: the inference's modelled energy over its time, so the host CPU's power
        # during fallback layers counts as well as the accelerator's
        active_power_w=np.array([v.inference.energy_j / v.inference.latency_s for v in vehicles]),
        idle_power_w=np.array([d.idle_power.value for d in device]),
        host_power_w=np.array([_host_power_w(v, catalog) for v in vehicles]),
    )


def _host_power_w(vehicle: Vehicle, catalog: Catalog) -> float:
    """The host CPU's part of a vehicle's busy power: its active power over the share of a call
    it works (layers the accelerator cannot run, post-processing)."""
    host = catalog.vehicle_host(vehicle.spec.accelerator, vehicle.spec.host)
    cost = vehicle.inference
    if host is None or not cost.fallback_s:
        return 0.0
    return catalog.device(host).active_power.value * cost.fallback_s / cost.latency_s


class Run:
    """One simulation and everything it owns; nothing is shared between runs.

    Built in this order (the order SimPy processes start in is part of the answers): the
    clock, the event log, each group's detector variant's file and the workload the hardware
    models cost for it (onboard, offloaded, in training and in its compile targets); the fleet
    (vehicles, the frame ledger, the network they attach to, detection and the per-frame path,
    behind the ``Fleet`` facade); the cloud (the sample store the uploads deliver to, then the
    retraining loop unless the policy never retrains). ``policies`` are a user's Python
    policies by decision (``fleetsim.policies.DECISIONS``), each in place of the scenario's.
    """

    def __init__(self, scenario: Scenario, catalog: Catalog, base_dir: Path | None = None,
                 policies: dict | None = None, fine_tuner: Callable[..., FineTuner] | None = None,
                 detections: RecordedDetections | None = None):
        self.scenario = scenario
        self.policies = checked_policies(policies)
        self.fine_tuner = fine_tuner  # None: FineTuner; or one that replays recorded jobs (fleetsim.gym)
        self.recorded_detections = detections  # detection jobs replayed between runs (None: all real)
        self.catalog = catalog
        self.duration = scenario.simulation.duration
        self.clock = Clock(simpy.Environment(), self.duration)
        self.env = self.clock.env
        self.log = EventLog()
        detector = scenario.detector
        self.files = {v: resolve_model(v, base_dir) for v in scenario.variants()}
        baseline = workload_from_graph(baseline_path("int8")) if detector.workload is not None else None
        self.workloads = {v: costed_workload(scenario, catalog, path, baseline)
                          for v, path in self.files.items()}
        self.baseline_graph = baseline
        groups = _build_fleet(scenario, catalog, self.workloads)
        vehicles = [v for g in groups for v in g.vehicles]
        for vehicle in vehicles:
            vehicle.selection = self.policies.get("selection")
        self.ledger = FrameLedger(_layout(groups, catalog), scenario.outputs.window,
                                  self.duration, scenario.outputs.frame_table)
        self.network = build_network(self.env, scenario, catalog.technologies, vehicles, base_dir)
        labeling = scenario.cloud.labeling
        labeler = make_labeler(labeling.labeler, catalog, detector.threads, detector.batch_size)
        self.store = SampleStore(self.env, labeling.retention, labeler, self.log)
        # one-thread sessions: FleetDetection runs detector.threads of them at once on its workers
        self.registry = ModelRegistry(self.files, 1, detector.batch_size)
        self.fleet = self._fleet(groups, vehicles)
        for vehicle in vehicles:
            self.env.process(upload_process(self.fleet, vehicle, self.network, scenario.cloud.region,
                                            self.store, self.log, self.policies.get("uploads")))
        self.retraining = self._retraining()

    def _fleet(self, groups: list[GroupMembers], vehicles: list[Vehicle]) -> Fleet:
        """Detection and the per-frame path (one event per frame, or vectorised) behind the facade."""
        scenario, seed = self.scenario, self.scenario.simulation.seed
        detection = FleetDetection(scenario, vehicles, self.registry, seed, self.recorded_detections)
        self.offloading = None
        self.placer = placer = Placer(scenario, groups, self.network, self.policies.get("placement"))
        if scenario.simulation.mode == "reference":
            placer.first()
            perception = ReferencePerception(self.clock, groups, self.ledger, detection, seed)
            return Fleet(self.clock, vehicles, perception, detection)
        self.offloading = build_offloading(scenario, self.catalog, self.workloads, groups, self.network,
                                           placer.first(), placer.switchable())
        perception = VectorisedPerception(groups, self.ledger, detection, seed, self.duration,
                                          self.offloading)
        placer.attach(perception, self.offloading)
        fleet = Fleet(self.clock, vehicles, perception, detection)
        self.env.process(fleet.keep_pace(scenario.simulation.window))
        if placer.switchable():
            self.env.process(placer.deciding(fleet))
        return fleet

    def _retraining(self) -> RetrainingLoop | None:
        """The cloud's retraining loop: cluster, fine-tuner, trigger and rollout (None: never retrains)."""
        cloud, seed = self.scenario.cloud, self.scenario.simulation.seed
        policy = cloud.retraining
        trigger = make_trigger(policy, self.fleet, self.policies.get("retraining"))
        if trigger is None:
            return None
        from fleetsim.cloud.finetune import FineTuner, trained_work  # torch: only a run that trains loads it

        spec = next(c for c in cloud.clusters if c.name == policy.cluster)
        devices = {pool.device: self.catalog.device(pool.device, "cloud") for pool in spec.node_pools}
        teacher = partial(costed_workload, self.scenario, self.catalog, teacher_path(), self.baseline_graph)
        cluster = TrainingCluster(self.env, spec, devices, trained_work(self.workloads, teacher), self.log,
                                  seed, self.clock.end_s)
        # one-thread scoring sessions: a fine-tune's worker runs beside the detection workers
        tuner = (self.fine_tuner or FineTuner)(cloud.fine_tune, self.store, seed, 1,
                                               self.scenario.detector.batch_size, self.registry.paths[0])
        compiles = TargetCompiles(self.env, compile_targets(self.scenario, self.catalog, self.workloads),
                                  self.log)
        downloads = CompiledDownloads(self.fleet, self.network, cloud.region, cloud.rollout,
                                      download_bytes(self.scenario, self.files, self.workloads), self.log,
                                      compiles=compiles)
        rollout = make_rollout(cloud.rollout, self.clock, downloads, seed, self.log,
                               self.policies.get("canary"))
        trainer = Trainer(cluster, tuner, self.registry)
        observer = Observer(self.clock, self.store, self.fleet, self.network, Lineage(),
                            self.scenario.outputs.accuracy_window, signals="retraining" in self.policies)
        return RetrainingLoop(self.clock, trigger, observer, trainer, rollout, self.log)

    @property
    def vehicles(self) -> list[Vehicle]:
        return self.fleet.vehicles

    @property
    def detection(self) -> FleetDetection:
        return self.fleet.detection

    def _progress(self, callback: ProgressCallback):
        step = self.duration / PROGRESS_STEPS
        while True:
            callback(self.env.now, self.duration)
            if self.env.now >= self.duration:
                return
            yield self.env.timeout(min(step, self.duration - self.env.now))

    def advance(self, until: Callable[[], bool]) -> bool:
        """Process events, one at a time, until ``until()`` holds (True) or only events at or after
        the horizon are left (False); ``execute`` then finishes the run exactly as if run at once."""
        env = self.env
        while env.peek() < self.duration:
            env.step()
            if until():
                return True
        return False

    def execute(self, on_progress: ProgressCallback | None) -> list[Collector]:
        """Run to the horizon; return the collectors of the results (made at the horizon)."""
        if on_progress is not None:
            self.env.process(self._progress(on_progress))
        if self.env.now < self.duration:
            self.env.run(until=self.duration)
        if self.retraining is not None:
            self.retraining.tuner.finish()
        if on_progress is not None:
            on_progress(self.duration, self.duration)
        self.network.finish()
        collectors = self._collectors()
        self.log.closed = True
        self.fleet.finish()
        give_back_freed_memory()  # before the results' tables are built
        return collectors

    def _collectors(self) -> list[Collector]:
        """Each subsystem's contribution to the results, in the order their tables are built."""
        scenario = self.scenario
        return [
            StoreResults(self.store, self.log, scenario.cloud.labeling.labeler.kind),
            RetrainingResults(self.retraining, self.log, scenario.world, self.duration, len(self.vehicles)),
            DetectionResults(self.fleet, self.ledger, scenario.outputs.accuracy_window),
            FrameResults(self.ledger, self.fleet),
            VehicleResults(self.fleet, self.network, self.log),
            OffloadResults(self.offloading, self.fleet, self.placer.by_group()),
            NetworkResults(self.network),
            HardwareCost(scenario, self.catalog),
        ]


def prepared(scenario: Scenario | str | Path, seed: int | None,
             catalog: Catalog) -> tuple[Scenario, Path | None]:
    """``scenario`` loaded (a path) or checked (a Scenario) against ``catalog``, with ``seed`` if given,
    and the folder its relative paths start from."""
    base_dir = None
    if not isinstance(scenario, Scenario):
        base_dir = Path(scenario).parent
        scenario = load_scenario(scenario, catalog)
    else:
        require_valid(scenario, catalog)
    if seed is not None:
        scenario = scenario.model_copy(
            update={"simulation": scenario.simulation.model_copy(update={"seed": seed})}
        )
    return scenario, base_dir


def run(scenario: Scenario | str | Path, *, seed: int | None = None,
        on_progress: ProgressCallback | None = None, catalog: Catalog | None = None,
        policies: dict | None = None, detections: RecordedDetections | None = None,
        phases: Phases | None = None) -> Results:
    """Simulate ``scenario`` (a Scenario or a path to its YAML) and return its Results.

    ``seed`` overrides ``simulation.seed``. ``policies`` maps decisions (``"retraining"``,
    ``"canary"``, ``"uploads"``, ``"selection"``, ``"placement"``) to a user's Python policies
    (``fleetsim.policies``), each in place of the scenario's for this run. ``detections``, a
    ``fleetsim.RecordedDetections`` shared between calls, replays detection jobs
    an earlier call ran with the same frames and model (same results, less host time). Calls
    are independent: the same scenario, seed and policies give identical results, in one
    process or many. ``phases`` watches the run phase by phase (``Phases``; benchmarks time them).
    """
    phase = phases or _unwatched
    with phase("building", None):  # checked against the catalog, then built
        catalog = catalog if catalog is not None else load_catalog()
        scenario, base_dir = prepared(scenario, seed, catalog)
        wall = time.perf_counter()
        sim = Run(scenario, catalog, base_dir, policies, detections=detections)
    with phase("simulating", sim):  # to the horizon, fine-tunes included, until every frame is detected
        collectors = sim.execute(on_progress)
    with phase("results", sim):
        return build_results(scenario, collectors, wall_s=time.perf_counter() - wall)


def _unwatched(name: str, sim: Run | None) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()
