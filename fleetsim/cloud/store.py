"""The cloud's store of uploaded training samples."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SampleStore:
    """Counts the samples received, per vehicle group, and how many are new."""

    received: int = 0
    by_group: dict[str, int] = field(default_factory=dict)
    used_by_last_job: int = 0
    sample_ids: list[int] = field(default_factory=list)  # into the run's SampleArchive, in arrival order

    def receive(self, vehicle, sample_ids: list[int], now: float) -> None:
        """Accept samples that finished uploading from ``vehicle`` at ``now``."""
        self.received += len(sample_ids)
        self.sample_ids.extend(sample_ids)
        group = vehicle.spec.name
        self.by_group[group] = self.by_group.get(group, 0) + len(sample_ids)

    @property
    def new_samples(self) -> int:
        """Samples received since the last training job took its snapshot."""
        return self.received - self.used_by_last_job
