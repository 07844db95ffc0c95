"""Model versions the fleet can run: version -> one ONNX file per deployed variant, one session per file."""

from __future__ import annotations

from pathlib import Path

from fleetsim.detector.baseline import VARIANTS, baseline_path
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.variants import BUILT, variant_path
from fleetsim.errors import FleetsimError


def resolve_model(spec: str, base_dir: Path | None = None) -> Path:
    """A group's variant (``Scenario.variant_of``): a baseline or compressed variant name or a path to
    an .onnx file."""
    if spec in VARIANTS:
        return baseline_path(spec)
    if spec in BUILT and variant_path(spec).is_file():
        return variant_path(spec)
    path = Path(spec)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.suffix != ".onnx" or not path.is_file():
        raise FleetsimError(f"detector variant: {spec!r} is neither a baseline variant "
                            f"({', '.join(VARIANTS)}) nor an existing .onnx file (or a compressed "
                            f"variant: {', '.join(BUILT)})")
    return path


class ModelRegistry:
    """Released detector versions, each as one file per deployed variant (by the name the scenario
    gives it); version 0 is the models the fleet starts with."""

    def __init__(self, initial: dict[str, Path], threads: int, batch_size: int):
        self.paths = {0: {variant: Path(path) for variant, path in initial.items()}}
        self.threads = threads
        self.batch_size = batch_size
        self._sessions: dict[Path, OnnxDetector] = {}

    @property
    def variants(self) -> list[str]:
        """The deployed variants, in the fleet's order."""
        return list(self.paths[0])

    def release(self, version: int, paths: dict[str, Path]) -> None:
        self.paths[version] = {variant: Path(paths[variant]) for variant in self.variants}

    def detector(self, version: int, variant: str) -> OnnxDetector:
        path = self.paths[version][variant]
        if path not in self._sessions:
            self._sessions[path] = OnnxDetector(path, self.threads, self.batch_size)
        return self._sessions[path]
