"""Measure reference workloads with ONNX Runtime on this machine, whole and per node.

Each workload's network is built from its architecture definition
(:mod:`fleetsim.tools.architectures`, random weights from a fixed seed) and exported to ONNX at
batch 1; its int8 graph is quantized statically (QDQ, uint8 activations, int8 weights) with
calibration data drawn from a fixed seed. Each graph runs ``warmup + repeats`` times in an ORT
session with per-node profiling on; the warm-up runs are dropped and every figure is the median
of the rest. The machine (CPU model, ISA flags, threads, execution provider, load) is recorded
beside every point, so a file of points says where it was measured.

Two CSV files come out (``fleetsim hardware measure``):
model-level points in the columns of ``shared/reference/calibration_points.csv`` (``device``,
``model``, ``input``, ``precision``, ``measured``, ``power_w``, ``source``) plus ``workload`` and
the machine's columns, which ``fleetsim hardware calibrate`` reads; and one row per node and
point (``<out>_layers.csv``) with its op class (:func:`fleetsim.hardware.per_layer.node_class`).

The graphs end at the raw head outputs: no box decode or NMS is measured.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fleetsim.errors import FleetsimError
from fleetsim.hardware.per_layer import node_class

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}
PRECISIONS = ("fp32", "int8")
SEED = 0
CALIBRATION_IMAGES = 2
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16",
             "asimd", "asimddp", "i8mm", "sve", "fphp", "bf16")
"""CPU flags that decide which int8/fp32 kernels ORT picks (x86 and Arm names)."""
BANDWIDTH_BYTES = 256 * 2 ** 20
"""Array size of the copy that measures one thread's memory bandwidth (far beyond any cache)."""


@dataclass(frozen=True)
class Machine:
    """Where a measurement ran."""

    cpu: str  # CPU model name as the OS reports it
    isa: str  # the ISA_FLAGS it has, space-separated
    threads: int  # ORT intra-op threads
    provider: str  # ORT execution provider
    onnxruntime: str
    load_1min: float  # system load average when the measurement started
    copy_bandwidth: float  # bytes/s one thread reads + writes in a large copy (median)


@dataclass(frozen=True)
class Measured:
    """One graph measured: its median time per inference and the median time of each node."""

    workload: str
    model: str
    input_size: int
    precision: str
    seconds: float  # CPU time (one thread on the CPU provider), else wall time
    wall_s: float
    nodes: list[tuple[str, str, str, float]]  # (node, ORT op type, op class, median seconds)


def this_machine(threads: int, provider: str) -> Machine:
    """The CPU, ISA flags and load of this machine, and the settings a measurement uses."""
    import onnxruntime as ort

    return Machine(cpu=_cpu_model(), isa=" ".join(f for f in ISA_FLAGS if f in _cpu_flags()),
                   threads=threads, provider=PROVIDERS[provider], onnxruntime=ort.__version__,
                   load_1min=os.getloadavg()[0], copy_bandwidth=copy_bandwidth())


def _cpuinfo() -> str:
    path = Path("/proc/cpuinfo")
    return path.read_text() if path.is_file() else ""


def _cpu_model() -> str:
    for line in _cpuinfo().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware"):
            return value.strip()
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    for line in _cpuinfo().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def copy_bandwidth(repeats: int = 7) -> float:
    """Bytes read and written per second by one thread copying a large array (median)."""
    src = np.ones(BANDWIDTH_BYTES // 8)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - start)
    return 2 * src.nbytes / float(np.median(times[1:]))


def check_provider(provider: str) -> str:
    """The ORT name of ``provider`` (cpu, cuda, tensorrt), or an error when this ONNX Runtime lacks it."""
    import onnxruntime as ort

    if provider not in PROVIDERS:
        raise FleetsimError(f"--provider: unknown execution provider '{provider}' "
                            f"(allowed: {', '.join(PROVIDERS)})")
    available = ort.get_available_providers()
    if PROVIDERS[provider] not in available:
        raise FleetsimError(f"--provider {provider}: {PROVIDERS[provider]} is not available in this ONNX "
                            f"Runtime {ort.__version__} (available: {', '.join(available)}; CUDA and "
                            "TensorRT need the onnxruntime-gpu package and an NVIDIA GPU)")
    return PROVIDERS[provider]


def export_graphs(workload_id: str, precisions: list[str], folder: Path) -> dict[str, Path]:
    """The fp32 (and, if asked, static-QDQ int8) ONNX graphs of ``workload_id``'s architecture."""
    import torch

    from fleetsim.tools.architectures import architecture
    from fleetsim.tools.profiles import export_architecture

    arch = architecture(workload_id)
    torch.manual_seed(SEED)
    fp32 = export_architecture(arch, folder / f"{workload_id}_fp32.onnx")
    graphs = {"fp32": fp32}
    if "int8" in precisions:
        graphs["int8"] = _quantize(fp32, arch.input_size, folder / f"{workload_id}_int8.onnx")
    return {p: graphs[p] for p in precisions}


def _quantize(fp32: Path, size: int, out: Path) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    rng = np.random.default_rng(SEED)
    images = [{"image": rng.standard_normal((1, 3, size, size)).astype(np.float32)}
              for _ in range(CALIBRATION_IMAGES)]

    class RandomImages(CalibrationDataReader):
        def __init__(self):
            self.images = iter(images)

        def get_next(self):
            return next(self.images, None)

    prepared = out.with_name(out.stem + "_prepared.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), RandomImages(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=False)
    return out


def time_graph(path: Path, provider: str, threads: int, repeats: int, warmup: int,
               folder: Path) -> tuple[float, float, list[tuple[str, str, str, float]]]:
    """Median seconds per run of the graph at ``path``: its CPU time (the calling thread's, which
    runs every kernel when ORT has one intra-op thread on the CPU provider; else the wall time)
    and its wall time; and the median wall seconds of each node (warm-up runs dropped), from ORT's
    profile. CPU time leaves out the time other processes held the core, so a shared machine gives
    nearly an idle one's figure; wall times do not."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.enable_profiling = True
    options.profile_file_prefix = str(folder / path.stem)
    optimized = folder / f"{path.stem}_optimized.onnx"
    options.optimized_model_filepath = str(optimized)
    providers = list(dict.fromkeys([provider, "CPUExecutionProvider"]))
    session = ort.InferenceSession(str(path), options, providers=providers)
    feed = session.get_inputs()[0]
    side = feed.shape[-1]
    image = np.random.default_rng(SEED).standard_normal((1, 3, side, side)).astype(np.float32)
    cpu, wall = [], []
    for _ in range(warmup + repeats):
        start_wall, start_cpu = time.perf_counter(), time.thread_time()
        session.run(None, {feed.name: image})
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    events = json.loads(Path(session.end_profiling()).read_text())
    runs = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    weights = _conv_weights(optimized)
    per_node: dict[str, list[float]] = {}
    op_types: dict[str, str] = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or e["ts"] < runs[warmup]:
            continue
        per_node.setdefault(e["name"].removesuffix("_kernel_time"), []).append(e["dur"] * 1e-6)
        op_types.setdefault(e["name"].removesuffix("_kernel_time"), e["args"].get("op_name", ""))
    nodes = [(name, op_types[name], node_class(op_types[name], weights.get(name)), float(np.median(times)))
             for name, times in per_node.items()]
    single = threads == 1 and provider == "CPUExecutionProvider"
    seconds = float(np.median((cpu if single else wall)[warmup:]))
    return seconds, float(np.median(wall[warmup:])), nodes


def _conv_weights(optimized: Path) -> dict[str, list[int]]:
    """Weight shape of every conv node of the graph ORT optimised (QLinearConv: its fourth input)."""
    import onnx

    if not optimized.is_file():
        return {}
    model = onnx.load(str(optimized))
    stored = {t.name: list(t.dims) for t in model.graph.initializer}
    shapes = {}
    for node in model.graph.node:
        index = 3 if node.op_type == "QLinearConv" else 1
        if "Conv" in node.op_type and len(node.input) > index and node.input[index] in stored:
            shapes[node.name] = stored[node.input[index]]
    return shapes


def measure(workloads: list[str], precisions: list[str], repeats: int = 20, warmup: int = 3,
            threads: int = 1, provider: str = "cpu",
            on_point: Callable[[Measured], None] | None = None) -> tuple[Machine, list[Measured]]:
    """Measure every workload at every precision on this machine."""
    from fleetsim.hardware.catalog import load_catalog
    from fleetsim.tools.architectures import architecture_ids

    ort_provider = check_provider(provider)
    known = architecture_ids()
    unknown = [w for w in workloads if w not in known]
    if unknown:
        raise FleetsimError(f"--workloads: no architecture definition for {', '.join(unknown)} "
                            f"(allowed: {', '.join(known)})")
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise FleetsimError(f"--precisions: {', '.join(bad)} (allowed: {', '.join(PRECISIONS)})")
    catalog = load_catalog()
    machine = this_machine(threads, provider)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for workload_id in workloads:
            graphs = export_graphs(workload_id, precisions, folder)
            spec = catalog.workload(workload_id)
            for precision, path in graphs.items():
                seconds, wall, nodes = time_graph(path, ort_provider, threads, repeats, warmup, folder)
                point = Measured(workload_id, spec.name, spec.input_size, precision, seconds, wall, nodes)
                results.append(point)
                if on_point is not None:
                    on_point(point)
    return machine, results


def write_points(machine: Machine, points: list[Measured], out: Path, repeats: int, warmup: int,
                 device: str = "this machine") -> tuple[Path, Path]:
    """Write the model-level points to ``out`` and the per-node times beside it (``<stem>_layers.csv``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    context = asdict(machine)
    single = machine.threads == 1 and machine.provider == PROVIDERS["cpu"]
    timing = "CPU time of the calling thread" if single else "wall time"
    source = (f"measured by fleetsim hardware measure: ONNX Runtime {machine.onnxruntime}, "
              f"{machine.provider}, {machine.threads} intra-op thread(s), median {timing} of {repeats} runs "
              f"after {warmup} warm-up, random weights, batch 1, graph without NMS")
    header = ["device", "model", "input", "precision", "measured", "power_w", "source", "workload",
              "wall", "repeats", "warmup", *context]
    with out.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for p in points:
            writer.writerow([device, p.model, p.input_size, p.precision, f"{p.seconds * 1e3:.4f} ms", "–",
                             source, p.workload, f"{p.wall_s * 1e3:.4f} ms", repeats, warmup,
                             *context.values()])
    layers = out.with_name(out.stem + "_layers.csv")
    with layers.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["workload", "precision", "node", "op_type", "op_class", "seconds"])
        for p in points:
            writer.writerows([p.workload, p.precision, *node] for node in p.nodes)
    return out, layers
