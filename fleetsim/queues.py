"""Queueing pieces both the edge and the cloud use.

``ServerPool`` is a many-server FIFO queue, one queue at a time: remote inference servers
shared by offloading vehicles (``edge.offload``) and the cloud's labelling queues
(``cloud.labeling``). The per-vehicle accelerator queue, vectorised over the fleet, is
``edge.queueing``.
"""

from __future__ import annotations

import heapq
import math

import numpy as np


class ServerPool:
    """``servers`` identical servers behind one FIFO queue with room for ``capacity`` waiting.

    A job takes the first server to come free; one that finds ``servers + capacity`` jobs in
    the system is turned away. State carries over from one ``serve`` call to the next.

    >>> pool = ServerPool(servers=2, capacity=0)
    >>> pool.serve(np.array([0.0, 0.0, 0.0, 1.0]), 1.0)[0].tolist()
    [True, True, False, True]
    """

    def __init__(self, servers: int, capacity: float = math.inf):
        self.limit = servers + capacity
        self.free = [-np.inf] * servers  # heap: when each server is next free
        self.in_system: list[float] = []  # heap: departures of admitted jobs not yet gone

    def serve(self, arrivals: np.ndarray, service_s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Admitted, start and end of jobs arriving at sorted ``arrivals``, each taking ``service_s``
        (one value, or one per job)."""
        service = np.broadcast_to(np.asarray(service_s, dtype=float), arrivals.shape).tolist()
        admitted = np.zeros(len(arrivals), dtype=bool)
        start = np.full(len(arrivals), np.nan)
        end = np.full(len(arrivals), np.nan)
        free, in_system = self.free, self.in_system
        for k, a in enumerate(arrivals.tolist()):
            while in_system and in_system[0] <= a:
                heapq.heappop(in_system)
            if len(in_system) >= self.limit:
                continue
            begin = max(a, heapq.heappop(free))
            done = begin + service[k]
            heapq.heappush(free, done)
            heapq.heappush(in_system, done)
            admitted[k], start[k], end[k] = True, begin, done
        return admitted, start, end
