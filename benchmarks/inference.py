"""Detector throughput: batched int8 and fp32 ONNX Runtime against per-frame torch fp32 eager,
and fleetsim's detection call against a raw ONNX Runtime call on the same batch, in one run.

    .venv/bin/python benchmarks/inference.py [--frames 2048] [--batch 256] [--threads 2]

Targets (issue 3): batched int8 >= 3x per-frame torch fp32; framework overhead <= 20 %.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fleetsim.detector.baseline import BASELINE_DIR, WEIGHTS, baseline_path
from fleetsim.detector.export import INPUT
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.frames
    images = render(np.arange(n, dtype=np.uint64), Conditions.uniform(n)).images
    int8 = OnnxDetector(baseline_path("int8"), args.threads, args.batch)
    fp32 = OnnxDetector(baseline_path("fp32"), args.threads, args.batch)
    rates = {}
    for name, detector in (("onnx_int8_batched", int8), ("onnx_fp32_batched", fp32)):
        detector.detect(images[: args.batch])  # warm up
        rates[name] = n / best_of(args.repeats, lambda d=detector: d.detect(images))
    tensors = [to_tensor(images[i:i + args.batch]) for i in range(0, n, args.batch)]
    raw = n / best_of(args.repeats, lambda: [int8.session.run(None, {INPUT: t}) for t in tensors])
    torch.set_num_threads(args.threads)
    model = CenterNet()
    model.load_state_dict(torch.load(BASELINE_DIR / WEIGHTS))
    model.eval()
    frames = torch.from_numpy(to_tensor(images[:256]))
    with torch.no_grad():
        model(frames[:1])
        per_frame = 256 / best_of(args.repeats, lambda: [model(frames[i:i + 1]) for i in range(256)])
    rates["torch_fp32_per_frame"] = per_frame
    for name, rate in rates.items():
        print(f"{name:22s} {rate:10,.0f} frames/s")
    print(f"{'onnx_int8_raw_run':22s} {raw:10,.0f} frames/s  (session.run on pre-made tensors)")
    print(f"int8_batched / torch_per_frame = {rates['onnx_int8_batched'] / per_frame:.1f}x (target >= 3x)")
    print(f"int8_batched / fp32_batched    = {rates['onnx_int8_batched'] / rates['onnx_fp32_batched']:.2f}x")
    overhead = raw / rates["onnx_int8_batched"] - 1
    print(f"framework overhead (to_tensor + decode) = {overhead:.1%} over raw run (target <= 20 %)")


if __name__ == "__main__":
    main()
