"""Stored digests of every shipped scenario's results, so results never move silently.

A digest is a SHA-256 of a run's ``summary.json`` (host times left out) and one of
each table (columns, dtypes and values; host wall-time columns left out). The test suite
reruns a short cut of every shipped scenario (``SHORT_DURATION_S`` simulated at most) and
compares with ``scenarios/digests/<cpu class>.json``: int8 kernels and torch's float
kernels differ between AVX2 and AVX-512 VNNI CPUs, so each CPU class keeps its own file.

Regenerate after a change that is meant to move results (and say so in the commit)::

    python -m fleetsim.digests --write

>>> from fleetsim.digests import cpu_class
>>> cpu_class() in {"avx512_vnni", "avx2", "other"}
True
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

from fleetsim.paths import PROJECT_ROOT

SCENARIOS = PROJECT_ROOT / "scenarios"
DIGEST_DIR = SCENARIOS / "digests"
SHORT_DURATION_S = 2400.0  # 40 simulated minutes: the quickstart's first fine-tune and rollout
WALL_SUMMARY_KEYS = (("run", "wall_s"), ("run", "training_wait_s"), ("run", "detection_wait_s"))
WALL_COLUMNS = frozenset({"host_wall_s"})


def shipped_scenarios() -> list[Path]:
    """Every scenario file the project ships (sweep definitions are not scenarios)."""
    files = sorted(SCENARIOS.glob("*.yaml")) + sorted(SCENARIOS.glob("*/*.yaml"))
    return [p for p in files if p.parent.name != "sweeps" or p.stem.endswith("_base")]


def cpu_class() -> str:
    """The int8 kernel family of this CPU: ``avx512_vnni``, ``avx2`` or ``other``."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8").split()
    except OSError:
        return "other"
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    return "avx2" if "avx2" in flags else "other"


def without_wall_times(summary: dict) -> dict:
    """A copy of ``summary`` without its host times (the only figures runs may differ in)."""
    kept = copy.deepcopy(summary)
    for path in WALL_SUMMARY_KEYS:
        node = kept
        for key in path[:-1]:
            node = node.get(key, {})
        node.pop(path[-1], None)
    return kept


def summary_digest(summary: dict) -> str:
    """SHA-256 of the summary's JSON text with host wall times removed."""
    return hashlib.sha256(json.dumps(without_wall_times(summary), sort_keys=True).encode()).hexdigest()


def table_digest(table: pd.DataFrame) -> str:
    """SHA-256 of a table's column names, dtypes and values (host wall times removed)."""
    kept = table.drop(columns=[c for c in table.columns if c in WALL_COLUMNS])
    h = hashlib.sha256()
    h.update(json.dumps([[c, str(t)] for c, t in kept.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(kept, index=False).to_numpy().tobytes())
    return h.hexdigest()


def results_digests(results) -> dict[str, str]:
    """``{"summary": ..., "table:<name>": ...}`` for one run's Results."""
    out = {"summary": summary_digest(results.summary)}
    out.update({f"table:{name}": table_digest(t) for name, t in sorted(results.tables.items())})
    return out


def short_run_digests(path: Path) -> dict[str, str]:
    """Digests of ``path`` run for at most ``SHORT_DURATION_S`` simulated seconds."""
    from fleetsim.engine import run
    from fleetsim.hardware.catalog import load_catalog
    from fleetsim.scenario.loader import load_scenario

    catalog = load_catalog()
    scenario = load_scenario(path, catalog)
    simulation = scenario.simulation
    if simulation.duration > SHORT_DURATION_S:
        scenario = scenario.model_copy(update={"simulation": simulation.model_copy(
            update={"duration": SHORT_DURATION_S})})
    return results_digests(run(scenario, catalog=catalog))


def digest_file(cpu: str | None = None) -> Path:
    return DIGEST_DIR / f"{cpu or cpu_class()}.json"


def stored_digests(cpu: str | None = None) -> dict[str, dict[str, str]] | None:
    """The stored digests for this CPU class, by scenario path relative to ``scenarios/``."""
    path = digest_file(cpu)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))["scenarios"]


def key_of(path: Path) -> str:
    return path.relative_to(SCENARIOS).as_posix()


def compute_all(report=print) -> dict[str, dict[str, str]]:
    out = {}
    for path in shipped_scenarios():
        report(f"digest {key_of(path)}")
        out[key_of(path)] = short_run_digests(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleetsim.digests", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="store the digests for this CPU class")
    args = parser.parse_args(argv)
    digests = compute_all(report=lambda line: print(line, file=sys.stderr))
    if args.write:
        DIGEST_DIR.mkdir(parents=True, exist_ok=True)
        doc = {"cpu_class": cpu_class(), "short_duration_s": SHORT_DURATION_S, "scenarios": digests}
        digest_file().write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {digest_file()}")
        return 0
    stored = stored_digests() or {}
    moved = [f"{s}: {k}" for s, d in digests.items() for k, v in d.items() if stored.get(s, {}).get(k) != v]
    print("\n".join(moved) if moved else "digests unchanged")
    return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
