"""Wall time of the light commands, each in a fresh interpreter: ``import fleetsim``,
``fleetsim --help`` and ``fleetsim validate`` of the quickstart (median of several runs).

    .venv/bin/python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "import fleetsim": ["-c", "import fleetsim"],
    "fleetsim --help": ["-m", "fleetsim.cli", "--help"],
    "fleetsim validate scenarios/quickstart.yaml": ["-m", "fleetsim.cli", "validate",
                                                    "scenarios/quickstart.yaml"],
}


def wall_s(args: list[str]) -> float:
    """Seconds one ``python ARGS`` takes, start to exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for name, command in COMMANDS.items():
        times = [wall_s(command) for _ in range(args.repeats)]
        print(f"{name:<45} median {statistics.median(times):.2f} s  "
              f"(min {min(times):.2f}, max {max(times):.2f}, {args.repeats} runs)")


if __name__ == "__main__":
    main()
