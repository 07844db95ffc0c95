"""Headline figures of a run (summary.json), computed from the ledger and event tables."""

from __future__ import annotations

import math

import numpy as np

from fleetsim.metrics.ledger import FrameLedger, histogram_quantile


def finite_or_none(value: float) -> float | None:
    """JSON-safe float: NaN and infinities become null."""
    return float(value) if math.isfinite(value) else None


def frame_figures(ledger: FrameLedger, vehicles: np.ndarray | None,
                  histogram: np.ndarray) -> dict:
    """frames / latency_ms / energy sections for some vehicles (all when None)."""
    total = {name: int(ledger.total(name, vehicles)) for name in ledger.COUNTERS}
    processed = total["processed"]
    latency_sum = ledger.total("latency_sum_s", vehicles)
    grid = ledger.latency_max_s.reshape(ledger.windows, ledger.layout.vehicles)
    latency_max = (grid if vehicles is None else grid[:, vehicles]).max(initial=0.0)
    grid = ledger.latency_min_s.reshape(ledger.windows, ledger.layout.vehicles)
    latency_min = (grid if vehicles is None else grid[:, vehicles]).min(initial=np.inf)
    edge_j = ledger.edge_energy_j(vehicles)

    def percentile_ms(q: float) -> float | None:
        return finite_or_none(histogram_quantile(histogram, q, latency_min, latency_max) * 1e3)

    misses = total["late"] + total["dropped"] + total["failed"]
    return {
        "frames": total,
        "latency_ms": {
            "p50": percentile_ms(0.50),
            "p95": percentile_ms(0.95),
            "p99": percentile_ms(0.99),
            "mean": finite_or_none(latency_sum / processed * 1e3) if processed else None,
            "max": finite_or_none(latency_max * 1e3) if processed else None,
            "deadline_miss_rate": misses / total["generated"] if total["generated"] else None,
        },
        "energy": {
            "edge_j": edge_j,
            "host_j": ledger.host_energy_j(vehicles),
            "per_frame_mj": edge_j / processed * 1e3 if processed else None,
        },
    }


def fault_figures(vehicles, duration_s: float) -> dict:
    """faults section for some vehicles: failures, time down and availability."""
    down_s = sum(v.outages.down_s(duration_s) for v in vehicles)
    return {
        "failures": int(sum(len(v.outages.onset_s) for v in vehicles)),
        "down_s": down_s,
        "availability": 1.0 - down_s / (len(vehicles) * duration_s) if vehicles else None,
    }
