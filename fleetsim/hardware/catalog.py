"""Load and look up the device, workload and compiler catalogs in ``hardware_models/``.

A device's operator coverage (the classes its accelerator runs; the rest fall back to its host CPU)
is written once, in the compiler file that names the device (``compilers/``), and filled into the
device here, so the compile step and the hardware model read the same list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from fleetsim.errors import Issue, ScenarioError, UnknownNameError
from fleetsim.hardware.specs import CompilerSpec, DeviceSpec, TechnologySpec, WorkloadSpec
from fleetsim.hardware.workload import Workload, profile_path, read_profile
from fleetsim.paths import PROJECT_ROOT
from fleetsim.scenario.references import unknown_name_message
from fleetsim.scenario.validation import validate_document
from fleetsim.scenario.yamlfile import read_yaml

ENV_VAR = "FLEETSIM_HARDWARE_MODELS"


def default_hardware_dir() -> Path:
    """``$FLEETSIM_HARDWARE_MODELS`` if set, else ``hardware_models/`` beside the package."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else PROJECT_ROOT / "hardware_models"


@dataclass(frozen=True)
class Catalog:
    """Devices, workloads, radio technologies and target compilers by id."""

    devices: dict[str, DeviceSpec]
    workloads: dict[str, WorkloadSpec]
    root: Path
    technologies: dict[str, TechnologySpec] = field(default_factory=dict)
    compilers: dict[str, CompilerSpec] = field(default_factory=dict)
    memo: dict = field(default_factory=dict, compare=False, repr=False)
    """Derived results (workload profiles, device fits) computed once per catalog."""

    def device(self, device_id: str, kind: str | None = None) -> DeviceSpec:
        """The device ``device_id`` (of ``kind`` edge/cloud if given), or a clear error."""
        known = self.device_ids(kind)
        if device_id not in known:
            what = f"{kind} hardware model" if kind else "hardware model"
            raise UnknownNameError(unknown_name_message(what, device_id, known))
        return self.devices[device_id]

    def vehicle_host(self, device_id: str, chosen: str | None = None) -> str | None:
        """The host computer of edge accelerator ``device_id`` on a vehicle: ``chosen`` (the
        scenario's), else the device's ``vehicle_host``, else its ``host_cpu``; None for a device
        that is its own host."""
        device = self.device(device_id)
        if chosen is not None:
            return chosen
        return device.vehicle_host.value if device.vehicle_host is not None else device.host_cpu

    def compiler_of(self, device_id: str) -> CompilerSpec:
        """The compiler that builds models for device ``device_id``; for a device no compiler names (a
        device file of your own) ``none``: it runs the released model as it is."""
        self.device(device_id)
        found = [c for c in self.compilers.values() if device_id in c.devices]
        if found:
            return found[0]
        if "none" not in self.compilers:
            raise UnknownNameError(f"{device_id}: no compiler in {self.root / 'compilers'} names this device "
                                   f"and there is no 'none' compiler (allowed: add it to the devices of one "
                                   f"of {', '.join(sorted(self.compilers)) or 'none'})")
        return self.compilers["none"]

    def workload(self, workload_id: str) -> WorkloadSpec:
        """The workload ``workload_id``, or a clear error listing the known ones."""
        if workload_id not in self.workloads:
            raise UnknownNameError(unknown_name_message("workload", workload_id, list(self.workloads)))
        return self.workloads[workload_id]

    def profile(self, workload_id: str) -> Workload:
        """The workload ``workload_id`` with its per-layer profile, or its totals if it has none."""
        key = ("profile", workload_id)
        if key not in self.memo:
            spec = self.workload(workload_id)
            path = profile_path(self.root, workload_id)
            self.memo[key] = (Workload(spec, tuple(read_profile(path)), per_layer=True) if path.is_file()
                              else Workload.from_totals(spec))
        return self.memo[key]

    def with_device_files(self, paths: list[Path]) -> Catalog:
        """This catalog and the device files at ``paths`` (kept outside ``hardware_models/``, such as
        one written by ``fleetsim hardware calibrate``); an id the catalog has already is an error."""
        specs = []
        for path in map(Path, paths):
            if not path.is_file():
                raise UnknownNameError(f"{path}: no such device file")
            specs.append((str(path), validate_document(DeviceSpec, read_yaml(path, what="device file"))))
        return self._with(specs)

    def with_devices(self, specs: list[dict]) -> Catalog:
        """This catalog and the devices ``specs`` (device files' contents, as ``added`` gives them:
        how a sweep sends its ``--device-file`` devices to its workers)."""
        return self._with([(f"device {spec.get('id')}", DeviceSpec.model_validate(spec)) for spec in specs])

    def added(self, shipped: Catalog) -> list[dict]:
        """The devices of this catalog that ``shipped`` lacks, as plain data for ``with_devices``."""
        return [spec.model_dump(mode="json") for d, spec in sorted(self.devices.items())
                if d not in shipped.devices]

    def _with(self, specs: list[tuple[str, DeviceSpec]]) -> Catalog:
        devices = dict(self.devices)
        for where, spec in specs:
            if spec.id in devices:
                raise ScenarioError([Issue(where, 1, "id", f"'{spec.id}' is already a device of "
                                           f"{self.root} (allowed: an id not in `fleetsim hardware list`)")])
            devices[spec.id] = spec
        catalog = Catalog(devices=devices, workloads=self.workloads, root=self.root,
                          technologies=self.technologies, compilers=self.compilers)
        check_references(catalog)
        return catalog

    def device_ids(self, kind: str | None = None) -> list[str]:
        """Sorted ids, optionally only edge or only cloud devices."""
        return sorted(d for d, spec in self.devices.items() if kind in (None, spec.kind))


def _load_dir(directory: Path, model: type) -> dict:
    specs = {}
    for path in sorted(directory.glob("*.yaml")):
        spec = validate_document(model, read_yaml(path, what="hardware model"))
        if spec.id != path.stem:
            raise ScenarioError([Issue(str(path), 1, "id", f"id '{spec.id}' must match the file "
                                       f"name (allowed: {path.stem})")])
        specs[spec.id] = spec
    return specs


@cache
def load_catalog(directory: Path | None = None) -> Catalog:
    """Read every device (``edge/``, ``cloud/``), workload (``workloads/``) and radio
    technology (``network/``) file under ``directory``."""
    root = Path(directory) if directory is not None else default_hardware_dir()
    if not root.is_dir():
        raise UnknownNameError(f"{root}: hardware models directory not found (set {ENV_VAR})")
    devices: dict[str, DeviceSpec] = {}
    for sub in ("edge", "cloud"):
        devices.update(_load_dir(root / sub, DeviceSpec))
    compilers = _load_dir(root / "compilers", CompilerSpec)
    catalog = Catalog(devices=_with_coverage(devices, compilers, root), compilers=compilers,
                      workloads=_load_dir(root / "workloads", WorkloadSpec), root=root,
                      technologies=_load_dir(root / "network", TechnologySpec))
    check_references(catalog)
    return catalog


def _with_coverage(devices: dict[str, DeviceSpec], compilers: dict[str, CompilerSpec],
                   root: Path) -> dict[str, DeviceSpec]:
    """``devices`` with each one's operator coverage taken from the compiler that names it; a device
    named by no compiler keeps its own (none: it runs every operator)."""
    issues, covered = [], dict(devices)
    named: dict[str, str] = {}
    for compiler in compilers.values():
        path = str(root / "compilers" / f"{compiler.id}.yaml")
        runs_on = compiler.runs_on.value if compiler.runs_on is not None else None
        if runs_on is not None and (runs_on not in devices or devices[runs_on].hourly_price is None):
            priced = sorted(d for d, spec in devices.items() if spec.hourly_price is not None)
            issues.append(Issue(path, None, "runs_on", f"'{runs_on}' is not a device with an "
                                f"hourly_price (allowed: {', '.join(priced)})"))
        for i, device_id in enumerate(compiler.devices):
            if device_id not in devices:
                issues.append(Issue(path, None, f"devices[{i}]", unknown_name_message(
                    "hardware model", device_id, sorted(devices))))
            elif compiler.builds_per_device and runs_on is None and not _priced(devices[device_id], compiler):
                issues.append(Issue(path, None, f"devices[{i}]", f"'{device_id}' builds on itself but has no "
                                    "hourly_price, nor a unit_price with the compiler's host_life (allowed: "
                                    "add them, or a runs_on whose hour stands in)"))
            elif device_id in named:
                issues.append(Issue(path, None, f"devices[{i}]", f"'{device_id}' is already compiled by "
                                    f"{named[device_id]} (allowed: one compiler per device)"))
            elif devices[device_id].operators is not None:
                device_file = str(root / devices[device_id].kind / f"{device_id}.yaml")
                issues.append(Issue(device_file, None, "operators", f"set by compiler {compiler.id} "
                                    "(allowed: remove it from the device file)"))
            else:
                named[device_id] = compiler.id
                covered[device_id] = devices[device_id].model_copy(update={"operators": compiler.operators})
    if issues:
        raise ScenarioError(issues)
    return covered


def _priced(device: DeviceSpec, compiler: CompilerSpec) -> bool:
    """Whether a build on ``device`` itself has a price: its hour, or its unit price over host_life."""
    paid_off = device.unit_price is not None and compiler.host_life is not None
    return device.hourly_price is not None or paid_off


def check_references(catalog: Catalog) -> None:
    """Host CPUs and measured workloads that device files name must exist in the catalog."""
    issues = []
    cpus = [d for d in catalog.device_ids() if catalog.devices[d].accelerator_class == "cpu"]
    for device in catalog.devices.values():
        path = str(catalog.root / device.kind / f"{device.id}.yaml")
        hosts = [("host_cpu", device.host_cpu),
                 ("vehicle_host", device.vehicle_host.value if device.vehicle_host else None)] + [
            (f"{kind}[{i}].host", p.host) for kind in ("calibration", "validation")
            for i, p in enumerate(getattr(device, kind))]
        for field_name, host in hosts:
            if host is not None and host not in cpus:
                issues.append(Issue(path, None, field_name, f"unknown host CPU '{host}' "
                                    f"(allowed: {', '.join(cpus)})"))
        for kind in ("calibration", "validation"):
            for i, point in enumerate(getattr(device, kind)):
                if point.workload not in catalog.workloads:
                    issues.append(Issue(path, None, f"{kind}[{i}].workload", unknown_name_message(
                        "workload", point.workload, sorted(catalog.workloads))))
                elif point.precision not in device.peak:
                    issues.append(Issue(path, None, f"{kind}[{i}].precision", f"no peak at {point.precision} "
                                        f"(allowed: {', '.join(device.peak)})"))
    if issues:
        raise ScenarioError(issues)
