"""Scale benchmark: a fleet's whole day with real detection and retraining, and a large fleet's
per-frame timing path, each in its own subprocess so each peak memory is its own.

* ``day``: ``--vehicles`` (100) vehicles for ``--hours`` (24) simulated hours, one 30 fps camera
  each, on the quickstart's network and routes (5G, LTE, gaps, depot WiFi) under a full day of
  conditions (night, a fog spell, novel objects). Onboard Coral, Orin Nano and Raspberry Pi
  accelerators (the Pi saturates and drops frames). One frame per camera in 300 (every 10 s) is
  rendered and really run through the int8 detector; up to 6 samples per vehicle and hour upload
  every minute, and a periodic policy really fine-tunes the detector every ``--retrain-every``
  (4 h: five jobs in a day) on its newest 128 samples plus 128 replayed frames, for 2 epochs.
* ``timing``: ``--timing-vehicles`` (10,000) vehicles for ``--timing-minutes`` (10) minutes of
  the per-frame path alone: queueing and the energy/latency ledger, uploads on the network, no
  real detection and no retraining.

    .venv/bin/python -m benchmarks.fleet_day [--part both|day|timing] [--vehicles 100] [--hours 24]
                                             [--threads 2]

The day part also prints its inference floor: the detected frames times ONNX Runtime's time
per frame for the shipped int8 model alone (session.run on pre-made tensors at the run's batch
size, with as many threads as the run has cores to use), measured in the same process after the
run, and the run's wall time over that floor (target issue 22: <= 1.15), with how much of that wall
time the simulation waited for detection workers and for fine-tunes; and its peak memory
(target: 1 GiB) beside what holds it: the process after its imports (torch, ONNX Runtime) and
the results' tables, and the peak of each phase of the run (building, simulating with its fine-tunes,
assembling the results) sampled every 20 ms, with the simulated time of the simulation's peak and the
detections held in memory then (records and matched boxes; the boxes spilled to their file
beside). The last line is ``fleet_day: wall_s=... floor_s=... wall_over_floor=... peak_rss_mib=...``;
``fleet_timing: ...`` comes before it (target: 60 s). Wall time covers what ``fleetsim.run`` does
(building, simulating and assembling results; nothing is saved), its phases watched through its
``phases`` hook.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time

import numpy as np

from benchmarks.host import host_line, peak_rss_mib
from fleetsim.hardware.catalog import load_catalog
from fleetsim.paths import scenario_file
from fleetsim.scenario.loader import load_scenario
from fleetsim.scenario.models import Scenario

SAMPLES_PER_HOUR = "6 / h"  # per vehicle: 14,400 in a day (their pixels go to the store's file)
NEVER = 10**9  # detect_every that detects no frame within the timing run
GROUPS = (  # (quickstart group, accelerator, share of the fleet)
    ("urban_coral", "coral_usb", 0.4),
    ("highway_orin", "jetson_orin_nano", 0.4),
    ("legacy_rpi", "rpi4_cpu", 0.2),
)


def _fleet(data: dict, vehicles: int) -> None:
    """Resize the quickstart's groups to ``vehicles`` in all, one 30 fps front camera each."""
    groups = {g["name"]: g for g in data["fleet"]["groups"]}
    counts = [max(1, round(vehicles * share)) for _, _, share in GROUPS]
    counts[0] += vehicles - sum(counts)
    data["fleet"]["groups"] = []
    for (name, accelerator, _), count in zip(GROUPS, counts, strict=True):
        group = groups[name]
        group.update(count=count, accelerator=accelerator, cameras=group["cameras"][:1])
        group["uploads"]["max_rate"] = SAMPLES_PER_HOUR
        data["fleet"]["groups"].append(group)


def _base(vehicles: int, duration: str) -> dict:
    data = load_scenario(scenario_file("quickstart"), load_catalog()).model_dump(mode="json")
    data["name"] = "fleet_day_benchmark"
    data["simulation"]["duration"] = duration
    data["outputs"]["plots"] = False
    _fleet(data, vehicles)
    return data


def day_scenario(vehicles: int, hours: float, retrain_every: str, threads: int = 2) -> Scenario:
    """The whole-day scenario: real detection every 10 s per camera and periodic retraining,
    ``threads`` for ONNX Runtime and rendering."""
    data = _base(vehicles, f"{hours} h")
    data["detector"].update(detect_every=300, threads=threads)
    data["world"]["conditions"] = {
        "diurnal": {"start_clock": "6 h", "sunrise": "6 h", "sunset": "20 h"},  # nightfall at 14 h
        "weather": [{"weather": "fog", "start": "3 h", "duration": "3 h", "intensity": 0.7,
                     "regions": ["highway"]}],
        "novelty": {"onset": "18 h", "level": 0.5, "regions": ["city"]},
    }
    data["cloud"]["retraining"].update(interval=retrain_every, epochs=2)
    data["cloud"]["fine_tune"] = {"max_samples": 128, "replay": 1.0}
    return Scenario.model_validate(data)


def timing_scenario(vehicles: int, minutes: float) -> Scenario:
    """The per-frame path alone: no real detection, no retraining; uploads still tick."""
    data = _base(vehicles, f"{minutes} min")
    data["detector"]["detect_every"] = NEVER
    data["cloud"]["retraining"] = {"kind": "never"}
    return Scenario.model_validate(data)


def measure(part: str, args: argparse.Namespace) -> None:
    """Run one part in this process and print its lines."""
    from fleetsim.engine import run  # everything a run imports counts as imports, not as the run

    scenario = (day_scenario(args.vehicles, args.hours, args.retrain_every, args.threads) if part == "day"
                else timing_scenario(args.timing_vehicles, args.timing_minutes))
    catalog = load_catalog()  # parsed once per process; not part of the run
    _ort_time_per_frame(scenario, frames=8)  # imports ONNX Runtime and torch before the baseline
    imported_mib = _rss_mib()
    print(host_line())
    memory = PhasePeaks()
    started, cpu = time.perf_counter(), time.process_time()
    results = run(scenario, catalog=catalog, phases=memory.phase)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    memory.stop()
    peak_mib = peak_rss_mib()
    frames = results.summary["frames"]
    retraining = results.summary["retraining"]
    vehicles = sum(g.count for g in scenario.fleet.groups)
    print(f"{part}: vehicles={vehicles} simulated_s={scenario.simulation.duration:.0f} "
          f"frames={frames['generated']} detected={frames['detected']} dropped={frames['dropped']} "
          f"retrainings={retraining['jobs']} released={retraining['models_released']} "
          f"cpu_s={cpu:.1f} load={os.getloadavg()[0]:.1f}")
    waits = results.summary["run"]
    print(f"{part}_waits: detection_wait_s={waits['detection_wait_s']:.1f} "
          f"training_wait_s={waits['training_wait_s']:.1f} (of the wall time, the simulation waiting for "
          "detection workers and for fine-tunes)")
    tables_mib = sum(t.memory_usage(deep=True).sum() for t in results.tables.values()) / 2**20
    print(f"{part}_memory: peak_rss_mib={peak_mib:.0f} of which after_imports_mib={imported_mib:.0f} "
          f"(torch, ONNX Runtime, pandas, everything a run imports); result_tables_mib={tables_mib:.0f}")
    for name, (phase_peak, at_s, (held_mib, spilled_mib)) in memory.peaks.items():
        held = "" if at_s is None else (f" sim_t={at_s / 3600:.2f}h detections_held_mib={held_mib:.0f} "
                                        f"(spilled_mib={spilled_mib:.0f} in their file)")
        print(f"{part}_phase: {name} peak_rss_mib={phase_peak:.0f} (+{phase_peak - imported_mib:.0f} over "
              f"imports){held}")
    if part == "day":
        per_frame, cores = _ort_time_per_frame(scenario)
        floor = frames["detected"] * per_frame
        print(f"inference_floor: detected={frames['detected']} x ort_s_per_frame={per_frame:.3e} "
              f"(batch {scenario.detector.batch_size}, {cores} cores) = floor_s={floor:.1f}")
        print(f"fleet_day: wall_s={wall:.1f} floor_s={floor:.1f} wall_over_floor={wall / floor:.2f} "
              f"(target <= 1.15) peak_rss_mib={peak_mib:.0f} (target <= 1024) frames_per_s="
              f"{frames['generated'] / wall:,.0f} inferences_per_s={frames['detected'] / wall:,.0f}")
    else:
        print(f"fleet_timing: wall_s={wall:.1f} peak_rss_mib={peak_mib:.0f} "
              f"frames_per_s={frames['generated'] / wall:,.0f}")


class PhasePeaks:
    """Resident memory sampled from a thread every ``SAMPLE_S``: its peak in each phase of the run and,
    while simulating, the simulated time of that peak and the detections held then (their records and
    matched boxes)."""

    SAMPLE_S = 0.02

    def __init__(self):
        self.peaks: dict[str, tuple[float, float | None, tuple[float, float]]] = {}
        self.run = None
        self._phase = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def phase(self, name: str, run):
        """``fleetsim.engine.run``'s ``phases``: sample inside the phase ``name`` of ``run``."""
        self._phase, self.run = name, run
        yield
        self._sample_once()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.wait(self.SAMPLE_S):
            self._sample_once()

    def _sample_once(self) -> None:
        name, now = self._phase, _rss_mib()
        if name is None or now <= self.peaks.get(name, (0.0,))[0]:
            return
        sim = self.run if name == "simulating" else None
        self.peaks[name] = (now, sim.env.now if sim else None, _detections_mib(sim) if sim else (0.0, 0.0))


def _detections_mib(sim) -> tuple[float, float]:
    """MiB of the detected frames' records and matched boxes ``sim`` holds in memory now, and MiB of
    the matched boxes it spilled to their file."""
    detection = sim.detection
    records = sum(a.nbytes for part in list(detection.records) for a in list(part.values()))
    return (records + detection.matched.held_bytes) / 2**20, detection.matched.spilled_bytes / 2**20


def _ort_time_per_frame(scenario: Scenario, frames: int = 1024) -> tuple[float, int]:
    """Seconds per frame of a raw session.run of the shipped int8 model at the run's batch size,
    best of three passes over ``frames`` frames, with threads for every core the run may use."""
    import onnxruntime as ort

    from fleetsim.detector.baseline import baseline_path
    from fleetsim.detector.interface import INPUT
    from fleetsim.detector.training import to_tensor
    from fleetsim.world import Conditions, render

    cores = min(os.cpu_count() or 1, scenario.detector.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = cores
    options.log_severity_level = 3
    session = ort.InferenceSession(str(baseline_path("int8")), options, providers=["CPUExecutionProvider"])
    batch = scenario.detector.batch_size
    images = render(np.arange(frames, dtype=np.uint64), Conditions.uniform(frames)).images
    tensors = [to_tensor(images[i:i + batch]) for i in range(0, frames, batch)]
    session.run(None, {INPUT: tensors[0]})
    best = np.inf
    for _ in range(3):
        started = time.perf_counter()
        for t in tensors:
            session.run(None, {INPUT: t})
        best = min(best, time.perf_counter() - started)
    return best / frames, cores


def _rss_mib() -> float:
    """This process's resident memory now, in MiB."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("both", "day", "timing"), default="both")
    parser.add_argument("--vehicles", type=int, default=100)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--retrain-every", default="4 h")
    parser.add_argument("--threads", type=int, default=2, help="detector.threads of the day: ONNX Runtime "
                        "and rendering threads (the floor is taken at as many)")
    parser.add_argument("--timing-vehicles", type=int, default=10_000)
    parser.add_argument("--timing-minutes", type=float, default=10.0)
    args = parser.parse_args()
    if args.part != "both":
        measure(args.part, args)
        return
    for part in ("timing", "day"):  # each in a fresh process: its own peak RSS, no shared caches
        command = [sys.executable, "-m", "benchmarks.fleet_day", *sys.argv[1:], "--part", part]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
