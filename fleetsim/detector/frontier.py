"""The compression frontier: each variant's accuracy against its latency and energy per device.

A variant is costed from its own ONNX graph (MACs and weights per layer, as
:func:`fleetsim.hardware.graph.workload_from_graph` counts them) by the device's inference
model, at the variant's precision; a device that does not run that precision (an Edge TPU
and fp32, a Raspberry Pi CPU and fp16) has no point for it. A point is Pareto-optimal when
no other variant on the device is at least as accurate and at least as cheap, and better in
one. The variant to ship is the cheapest (lowest latency) whose accuracy interval still
reaches the most accurate variant's mAP: nothing the device runs is measurably better.

>>> points = frontier(read_card(), ["jetson_orin_nano"], load_catalog())   # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from fleetsim.detector.variants import COMPRESSED_DIR, variant_path
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.graph import workload_from_graph
from fleetsim.hardware.inference import calibrated_precisions, inference_cost

DEVICES = ("coral_usb", "jetson_orin_nano", "rpi5_cpu")
CONDITION = "day_clear"


@dataclass(frozen=True)
class Point:
    device: str
    variant: str
    precision: str
    map50: float
    low: float  # bootstrap interval of map50 over frames
    high: float
    latency_s: float  # one frame, batch 1
    energy_j: float
    macs: int
    file_bytes: int
    pareto_latency: bool = False
    pareto_energy: bool = False


def read_card(directory: Path = COMPRESSED_DIR) -> dict:
    return json.loads((directory / "model_card.json").read_text())


def frontier(card: dict, devices: list[str], catalog: Catalog, condition: str = CONDITION,
             directory: Path = COMPRESSED_DIR) -> list[Point]:
    """Every (device, variant) the device can run, with Pareto flags per device."""
    points = []
    for device_id in devices:
        device = catalog.device(device_id, "edge")
        runs = set(calibrated_precisions(device))
        row = []
        for variant, entry in card["variants"].items():
            if entry["precision"] not in runs:
                continue
            cost = inference_cost(device, workload_from_graph(variant_path(variant, directory)),
                                  entry["precision"], catalog)
            score = entry["map50"][condition]
            row.append(Point(device_id, variant, entry["precision"], score["map50"], score["low"],
                             score["high"], cost.latency_s, cost.energy_j, entry["macs"],
                             entry["file_bytes"]))
        points += [Point(**{**asdict(p), "pareto_latency": _optimal(p, row, "latency_s"),
                            "pareto_energy": _optimal(p, row, "energy_j")}) for p in row]
    return points


def _optimal(point: Point, row: list[Point], cost: str) -> bool:
    mine = getattr(point, cost)
    return not any(getattr(o, cost) <= mine and o.map50 >= point.map50
                   and (getattr(o, cost) < mine or o.map50 > point.map50) for o in row)


def choice(points: list[Point], device: str) -> Point:
    """The variant to ship on ``device``: the fastest whose interval reaches the best mAP."""
    row = [p for p in points if p.device == device]
    best = max(p.map50 for p in row)
    return min((p for p in row if p.high >= best), key=lambda p: (p.latency_s, -p.map50))


def lines(points: list[Point], condition: str = CONDITION) -> list[str]:
    """The frontier as text, at most 80 columns: one block per device, * marks Pareto-optimal."""
    out = [f"mAP@0.5 on {condition} [95% interval]; latency and energy per frame, batch 1;",
           "L/E: Pareto-optimal in latency / in energy; > the variant to ship"]
    for device in dict.fromkeys(p.device for p in points):
        shipped = choice(points, device).variant
        head = f"  {'variant':<18}{'prec':>5}  {'mAP':>5} {'interval':>13} {'ms':>8} {'mJ':>8}  L E"
        out += ["", device, head]
        for p in sorted((p for p in points if p.device == device), key=lambda p: p.latency_s):
            mark = ">" if p.variant == shipped else " "
            flags = " ".join("*" if optimal else "." for optimal in (p.pareto_latency, p.pareto_energy))
            out.append(f"{mark} {p.variant:<18}{p.precision:>5}  {p.map50:5.3f} [{p.low:5.3f},{p.high:5.3f}] "
                       f"{p.latency_s * 1e3:8.3f} {p.energy_j * 1e3:8.3f}  {flags}")
    return out


def plot(points: list[Point], out: Path, condition: str = CONDITION) -> list[Path]:
    """One PNG per device: accuracy against latency and against energy, Pareto front drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import NullFormatter

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for device in dict.fromkeys(p.device for p in points):
        row = [p for p in points if p.device == device]
        figure, axes = pyplot.subplots(1, 2, figsize=(10, 4.2))
        sides = ((axes[0], "latency_s", "latency per frame (ms)", "pareto_latency"),
                 (axes[1], "energy_j", "energy per frame (mJ)", "pareto_energy"))
        for ax, cost, label, flag in sides:
            for p in row:
                x, optimal = getattr(p, cost) * 1e3, getattr(p, flag)
                ax.errorbar(x, p.map50, yerr=[[p.map50 - p.low], [p.high - p.map50]],
                            fmt="o" if optimal else "x", color="C0" if optimal else "grey", capsize=2)
                ax.annotate(p.variant, (x, p.map50), fontsize=7, xytext=(3, 3), textcoords="offset points")
            front = sorted((p for p in row if getattr(p, flag)), key=lambda p: getattr(p, cost))
            ax.step([getattr(p, cost) * 1e3 for p in front], [p.map50 for p in front], where="post",
                    color="C0")
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(label)
            ax.set_ylabel(f"mAP@0.5 ({condition})")
        figure.suptitle(f"compression frontier on {device} (circles: Pareto-optimal)")
        figure.tight_layout()
        path = out / f"frontier_{device}.png"
        figure.savefig(path, dpi=110)
        pyplot.close(figure)
        written.append(path)
    return written
