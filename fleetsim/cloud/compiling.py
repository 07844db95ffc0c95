"""Compiling a released model for the accelerators it goes to, as a step of the rollout.

A released version is compiled once per distinct (variant, compiler) among the accelerators the
fleet's groups run it on (their own, and the MEC or cloud inference servers of offloading groups):
the Edge TPU compiler for Coral groups, the Vitis AI compiler for a DPU or an Alveo card, Hailo's
Dataflow Compiler, none for a CPU (``hardware_models/compilers/``). A compiler with ``per_device``
(TensorRT: an engine is specific to the GPU it was built on) builds once per (variant, device model)
instead, each build on a device of that model: a Jetson Orin Nano group and an A100 inference server
get two engines. Every compile starts at the release, on its own node (the compiler's ``runs_on``, or
the target device itself), lasts ``fixed + per_layer x layers`` of the variant it compiles and is
billed at that node's hourly price (a device without one: its unit price over the compiler's
``host_life``, or ``runs_on``'s hour standing in); a vehicle's download of the version starts once
its group's compiles are done. The operator classes a compiler maps are the device's coverage in
the hardware model, so the layers it leaves to the host here are those the hardware model charges
to the host CPU. Each build is one row of the ``model_compiles`` table.

>>> from fleetsim.hardware.workload import Layer
>>> mapped_layers(["conv"], [Layer("a", "conv", 9, 9, 9, 9), Layer("b", "nms", 0, 0, 9, 9)])
1
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetsim.cloud.rollout import Downloads
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.specs import CompilerSpec
from fleetsim.hardware.workload import Workload
from fleetsim.metrics.events import EventLog
from fleetsim.scenario.references import group_cells

__all__ = ["CompiledDownloads", "CompileTarget", "TargetCompiles", "build_key", "build_node",
           "compile_targets", "mapped_layers", "target_devices"]


def mapped_layers(operators: list[str] | None, layers) -> int:
    """Layers a compiler mapping ``operators`` (None: every class) puts on the accelerator: those
    before the first layer of another class (one partition; the rest runs on the host CPU)."""
    if operators is None:
        return len(layers)
    native = set(operators)
    return next((i for i, layer in enumerate(layers) if layer.op_class not in native), len(layers))


@dataclass(frozen=True)
class CompileTarget:
    """One build a release needs: a (variant, compiler), or with a per-device compiler a (variant,
    compiler, device model), with what the build takes and gives."""

    compiler: CompilerSpec
    variant: str  # the detector variant the groups run (a remote server: its precision), e.g. 'int8'
    devices: tuple[str, ...]
    groups: tuple[str, ...]
    layers: int
    mapped: int  # layers on the accelerator; the rest are left to the host
    host_ops: tuple[str, ...]  # operator classes of the layers left to the host
    compile_s: float
    runs_on: str  # device id of the node the build runs on
    price_per_s: float  # the build node's, USD/s
    power_w: float  # the build node's active power

    @property
    def key(self) -> tuple[str, str, str]:
        return build_key(self.variant, self.compiler, self.devices[0])


def build_key(variant: str, compiler: CompilerSpec, device: str) -> tuple[str, str, str]:
    """What tells one build from another: (variant, compiler, the device model with a per-device
    compiler, else '')."""
    return variant, compiler.id, device if compiler.builds_per_device else ""


def target_devices(scenario, group) -> list[tuple[str, str]]:
    """(device, variant) pairs a vehicle group's model runs on: its own accelerator with the group's
    detector variant, and with placement mec or cloud the servers its frames go to (MEC servers of
    its cells, cloud.inference) at their precision."""
    targets = [(group.accelerator, scenario.variant_of(group))]
    if group.placement == "mec":
        cells = set(group_cells(scenario, group))
        targets += [(m.accelerator, m.precision) for m in scenario.network.mec if cells & set(m.cells)]
    elif group.placement == "cloud" and scenario.cloud.inference is not None:
        targets.append((scenario.cloud.inference.accelerator, scenario.cloud.inference.precision))
    return targets


def build_node(catalog: Catalog, compiler: CompilerSpec, device: str) -> tuple[str, float]:
    """(device id, USD per second) of the node a build for ``device`` runs on: the compiler's
    ``runs_on`` at its hourly price, or with ``per_device`` the device itself, at its hourly price,
    else its unit price paid off over the compiler's ``host_life``, else ``runs_on``'s hour."""
    if not compiler.builds_per_device:
        return compiler.runs_on.value, catalog.device(compiler.runs_on.value).hourly_price.value
    node = catalog.device(device)
    if node.hourly_price is not None:
        return device, node.hourly_price.value
    if node.unit_price is not None and compiler.host_life is not None:
        return device, node.unit_price.value / compiler.host_life.value
    return device, catalog.device(compiler.runs_on.value).hourly_price.value


def compile_targets(scenario, catalog: Catalog,
                    workloads: dict[str, Workload]) -> dict[str, tuple[CompileTarget, ...]]:
    """The builds each vehicle group (``fleet.groups``) waits for, by group name; groups that share
    a build share one target. ``workloads`` are the fleet's variants' costed workloads: a build counts
    the layers of the variant it compiles (a remote server at a precision no group runs: the layers
    of the offloading group's own variant)."""
    members: dict[tuple[str, str, str], dict[str, set[str]]] = {}  # build key -> group -> devices
    costed: dict[tuple[str, str, str], Workload] = {}
    for group in scenario.fleet.groups:
        own = workloads[scenario.variant_of(group)]
        for device, variant in target_devices(scenario, group):
            compiler = catalog.compiler_of(device)
            key = build_key(variant, compiler, device)
            members.setdefault(key, {}).setdefault(group.name, set()).add(device)
            costed.setdefault(key, workloads.get(variant, own))
    targets: dict[str, list[CompileTarget]] = {g.name: [] for g in scenario.fleet.groups}
    for key, groups in members.items():
        variant, compiler = key[0], catalog.compilers[key[1]]
        devices = sorted(set().union(*groups.values()))
        node, price_per_s = build_node(catalog, compiler, devices[0])
        # the devices' coverage: the compiler's list where it names them, a device file's own otherwise
        operators, layers = catalog.device(devices[0]).operators, costed[key].layers
        mapped = mapped_layers(operators, layers)
        host_ops = sorted({x.op_class for x in layers[mapped:]} - set(operators or ()))
        time = compiler.compile_time
        target = CompileTarget(
            compiler=compiler, variant=variant, devices=tuple(devices),
            groups=tuple(groups), layers=len(layers), mapped=mapped, host_ops=tuple(host_ops),
            compile_s=time.fixed.value + time.per_layer.value * len(layers), runs_on=node,
            price_per_s=price_per_s, power_w=catalog.device(node).active_power.value)
        for name in groups:
            targets[name].append(target)
    return {name: tuple(t) for name, t in targets.items()}


class TargetCompiles:
    """The compiles of each released version: started at its first download, done after compile_s."""

    def __init__(self, env, targets: dict[str, tuple[CompileTarget, ...]], log: EventLog):
        self.env = env
        self.targets = targets
        self.log = log
        self.compiled: dict[int, dict[tuple[str, str, str], object]] = {}  # version -> target key -> event

    def ready(self, version: int, group: str):
        """Event done when ``version`` is compiled for every target of ``group`` (starts every compile
        of the version the first time it is asked for, i.e. at the release)."""
        if version not in self.compiled:
            distinct = {t.key: t for targets in self.targets.values() for t in targets}
            self.compiled[version] = {key: self._compile(version, t) for key, t in distinct.items()}
        events = [self.compiled[version][t.key] for t in self.targets[group]]
        return events[0] if len(events) == 1 else self.env.all_of(events)

    def seconds(self, group: str) -> float:
        """Compile time ``group``'s downloads wait for (its longest target's)."""
        return max(t.compile_s for t in self.targets[group])

    def _compile(self, version: int, target: CompileTarget):
        now = self.env.now
        self.log.record("model_compiles", version=version, compiler=target.compiler.id,
                        variant=target.variant, devices=",".join(target.devices),
                        groups=",".join(target.groups), t_start_s=now,
                        t_done_s=now + target.compile_s, compile_s=target.compile_s,
                        runs_on=target.runs_on, cost_usd=target.compile_s * target.price_per_s,
                        energy_j=target.compile_s * target.power_w, layers=target.layers,
                        layers_mapped=target.mapped, layers_on_host=target.layers - target.mapped,
                        host_ops=",".join(target.host_ops))
        return self.env.timeout(target.compile_s)


class CompiledDownloads(Downloads):
    """Downloads that start once the version is compiled for the vehicle's group."""

    def __init__(self, *args, compiles: TargetCompiles, **kwargs):
        super().__init__(*args, **kwargs)
        self.compiles = compiles

    def start(self, vehicle: int, version: int) -> None:
        """Start ``vehicle``'s download of ``version`` when its compile is done (at once for none)."""
        group = self.fleet.members[vehicle].group
        compiled = self.compiles.ready(version, group)
        if self.compiles.seconds(group) == 0:
            super().start(vehicle, version)
        else:
            self.fleet.env.process(self._after(compiled, vehicle, version))

    def _after(self, compiled, vehicle: int, version: int):
        yield compiled
        if version not in self.withdrawn and self.fleet.env.now < self.fleet.clock.end_s:
            super().start(vehicle, version)
