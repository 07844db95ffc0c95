"""A device at one of its named operating points (Jetson nvpmodel modes and the like).

A device file states its peaks, memory bandwidth, active power and calibration points at one mode,
its ``power_mode``. In another mode the accelerator's peaks scale with that mode's GPU clock (the
deep-learning accelerators' with their own clock where both modes give one), the memory bandwidth
with its memory clock and the call and layer overheads (kernel launch and op dispatch, CPU work)
with its CPU clock (where both modes give one), and the power is the mode's. The fitted efficiencies
carry over unchanged: a mode changes how fast the silicon is clocked, not how well the runtime
uses it.

>>> from fleetsim.hardware.catalog import load_catalog
>>> orin = load_catalog().device("jetson_orin_nano")
>>> at_power_mode(orin, "mode_7w").peak["int8"].value < orin.peak["int8"].value  # doctest: +SKIP
True
"""

from __future__ import annotations

from fleetsim.errors import FleetsimError
from fleetsim.hardware.specs import DeviceSpec, Sourced


def at_power_mode(device: DeviceSpec, mode: str | None) -> DeviceSpec:
    """``device`` in power mode ``mode`` (None, or its own ``power_mode``: the device as stated)."""
    if mode is None or (device.power_mode is not None and mode == device.power_mode.value):
        return device
    if mode not in device.power_modes:
        raise FleetsimError(f"{device.id}: unknown power_mode '{mode}' (allowed: "
                            f"{', '.join(device.power_modes) or 'none: this device has no power_modes'})")
    stated, chosen = device.power_modes[device.power_mode.value], device.power_modes[mode]
    gpu = chosen.gpu_clock.value / stated.gpu_clock.value
    dla = (chosen.dla_clock.value / stated.dla_clock.value
           if chosen.dla_clock is not None and stated.dla_clock is not None else gpu)
    why = f"{device.id} power mode {mode}"
    update = {"peak": {p: _scaled(v, gpu, why) for p, v in device.peak.items()},
              "tf32_peak": _scaled(device.tf32_peak, gpu, why),
              "dla_peak": _scaled(device.dla_peak, dla, why),
              "active_power": chosen.power,
              "power_mode": Sourced[str](value=mode, source=why)}
    if chosen.memory_clock is not None and stated.memory_clock is not None:
        update["memory_bandwidth"] = _scaled(device.memory_bandwidth,
                                             chosen.memory_clock.value / stated.memory_clock.value, why)
    return device.model_copy(update=update)


def overhead_scale(device: DeviceSpec, stated: DeviceSpec) -> float:
    """How many times longer the CPU-side overheads (call, kernel launch, op dispatch) take with
    ``device`` at its power mode than with ``stated`` at the mode its figures are stated at."""
    if device.power_mode is None or stated.power_mode is None or device.power_mode == stated.power_mode:
        return 1.0
    now = device.power_modes[device.power_mode.value].cpu_clock
    then = stated.power_modes[stated.power_mode.value].cpu_clock
    return 1.0 if now is None or then is None else then.value / now.value


def _scaled(figure: Sourced | None, factor: float, why: str) -> Sourced | None:
    if figure is None:
        return None
    return figure.model_copy(update={"value": figure.value * factor,
                                     "source": f"{figure.source} (x {factor:.3g}: {why})"})
