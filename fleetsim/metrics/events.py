"""Event tables of the coarse simulation: uploads, training jobs, model swaps."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class EventLog:
    """Rows appended by SimPy processes, one list per table; closed at the end of the run."""

    tables: dict[str, list[dict]] = field(default_factory=dict)
    closed: bool = False

    def record(self, table: str, **row: object) -> None:
        """Append one row to ``table`` unless the run has ended."""
        if not self.closed:
            self.tables.setdefault(table, []).append(row)

    def frame(self, table: str, columns: list[str]) -> pd.DataFrame:
        """``table`` as a DataFrame with ``columns`` (empty, with columns, if no rows)."""
        return pd.DataFrame(self.tables.get(table, []), columns=columns)
