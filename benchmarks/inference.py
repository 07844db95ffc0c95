"""Detector throughput: batched int8 and fp32 ONNX Runtime against per-frame torch fp32 eager,
and fleetsim's detection call against a raw ONNX Runtime call on the same batches, in one run.

    .venv/bin/python -m benchmarks.inference [--frames 2048] [--batch 256] [--threads 2]

The raw call is the shipped int8 model alone in a session like fleetsim's, on float tensors made
beforehand; fleetsim's call takes uint8 frames and returns boxes (its graph pre-processes and
decodes, ``fleetsim.detector.graph``). Calls alternate so that load on the host hits both alike.
Targets (issues 3 and 22): batched int8 >= 3x per-frame torch fp32; framework overhead <= 20 %.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnxruntime as ort
import torch

from benchmarks.host import host_line
from fleetsim.detector.baseline import BASELINE_DIR, WEIGHTS, baseline_path
from fleetsim.detector.interface import INPUT
from fleetsim.detector.model import CenterNet
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.training import to_tensor
from fleetsim.world import Conditions, render


def best_of(repeats: int, fn) -> float:
    """Shortest wall time of ``repeats`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def raw_session(detector: OnnxDetector) -> ort.InferenceSession:
    """The model file alone, in a session with the detector's options."""
    return ort.InferenceSession(str(detector.path), detector.session.get_session_options(),
                                providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.frames
    before = host_line()
    images = render(np.arange(n, dtype=np.uint64), Conditions.uniform(n)).images
    int8 = OnnxDetector(baseline_path("int8"), args.threads, args.batch)
    fp32 = OnnxDetector(baseline_path("fp32"), args.threads, args.batch)
    raw = raw_session(int8)
    tensors = [to_tensor(images[i:i + args.batch]) for i in range(0, n, args.batch)]
    for detector in (int8, fp32):
        detector.detect(images[: args.batch])  # warm up
    raw.run(None, {INPUT: tensors[0]})
    own_s, raw_s = [], []
    for _ in range(args.repeats):  # alternating, so that other load hits both alike
        own_s.append(best_of(1, lambda: int8.detect(images)))
        raw_s.append(best_of(1, lambda: [raw.run(None, {INPUT: t}) for t in tensors]))
    rates = {"onnx_int8_batched": n / min(own_s),
             "onnx_fp32_batched": n / best_of(args.repeats, lambda: fp32.detect(images))}
    torch.set_num_threads(args.threads)
    model = CenterNet()
    model.load_state_dict(torch.load(BASELINE_DIR / WEIGHTS))
    model.eval()
    frames = torch.from_numpy(to_tensor(images[:256]))
    with torch.no_grad():
        model(frames[:1])
        per_frame = 256 / best_of(args.repeats, lambda: [model(frames[i:i + 1]) for i in range(256)])
    rates["torch_fp32_per_frame"] = per_frame
    print(before)
    print(f"frames={n} batch={args.batch} threads={args.threads} repeats={args.repeats} (best of each)")
    for name, rate in rates.items():
        print(f"{name:22s} {rate:10,.0f} frames/s")
    print(f"{'onnx_int8_raw_run':22s} {n / min(raw_s):10,.0f} frames/s  (session.run of the model alone "
          "on pre-made float tensors)")
    print(f"int8_batched / torch_per_frame = {rates['onnx_int8_batched'] / per_frame:.1f}x (target >= 3x)")
    print(f"int8_batched / fp32_batched    = {rates['onnx_int8_batched'] / rates['onnx_fp32_batched']:.2f}x")
    overhead = min(own_s) / min(raw_s) - 1
    print(f"framework overhead (uint8 in, pre-processing, decoding, boxes out) = {overhead:.1%} "
          "over the raw run (target <= 20 %)")
    print(host_line().replace("host:", "host after:"))


if __name__ == "__main__":
    main()
