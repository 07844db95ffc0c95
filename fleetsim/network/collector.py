"""What the network contributes to a run's results: bytes and transfers as they stood at the horizon."""

from __future__ import annotations

import pandas as pd

from fleetsim.network.flows import FlowNetwork
from fleetsim.network.topology import DOWN, UP


class NetworkResults:
    """The ``network`` section's byte counts, noted when made (at the horizon, after ``finish``)."""

    def __init__(self, network: FlowNetwork):
        self.figures = {
            "uploaded_bytes": float(network.bytes_delivered[UP]),
            "downloaded_bytes": float(network.bytes_delivered[DOWN]),
            "upload_in_flight_bytes": float(network.bytes_in_flight[UP]),
            "download_in_flight_bytes": float(network.bytes_in_flight[DOWN]),
            "retransmitted_bytes": network.bytes_retransmitted,
            "restarted_bytes": network.bytes_restarted,
            "transfers": network.transfers,
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        return {}

    def summary(self, tables: dict[str, pd.DataFrame]) -> dict:
        return {"network": dict(self.figures)}
