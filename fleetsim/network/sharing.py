"""Max-min fair sharing of one link's capacity among flows with individual caps.

>>> max_min_rates(10.0, [2.0, 8.0, 8.0])
[2.0, 4.0, 4.0]
"""

from __future__ import annotations

import math


def max_min_rates(capacity: float, caps: list[float]) -> list[float]:
    """Water-filling: each flow gets min(its cap, an equal share of what is left)."""
    order = sorted(range(len(caps)), key=lambda i: caps[i])
    rates = [0.0] * len(caps)
    left, flows = capacity, len(caps)
    for i in order:
        share = left / flows if math.isfinite(left) else math.inf
        rates[i] = min(caps[i], share)
        left -= rates[i]
        flows -= 1
    return rates
