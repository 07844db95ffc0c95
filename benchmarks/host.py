"""The host line every benchmark prints beside its figures: CPU model, int8 kernel family, cores, load.

    .venv/bin/python -m benchmarks.host
"""

from __future__ import annotations

import os
import platform
import resource
from pathlib import Path

from fleetsim.digests import cpu_class


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def host_line() -> str:
    """``host: cpu=... isa=... cores=... load=...`` (load: the 1-minute load average, now)."""
    return (f"host: cpu={cpu_model()!r} isa={cpu_class()} cores={os.cpu_count()} "
            f"load={os.getloadavg()[0]:.2f}")


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


if __name__ == "__main__":
    print(host_line())
