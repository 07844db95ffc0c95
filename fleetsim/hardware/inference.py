"""Inference latency and energy of a workload on a device, as the simulation asks for them.

The hardware modules form a one-way chain: :mod:`fleetsim.hardware.roofline` writes one call
out as a per-layer roofline and prices it under given parameters; :mod:`fleetsim.hardware.fit`
fits each device's parameters to its published measurements; this module puts the two
together.

>>> from fleetsim.hardware.catalog import load_catalog
>>> catalog = load_catalog()
>>> cost = inference_cost(catalog.device("coral_usb"), catalog.profile("mobilenet_v2_224"), "int8",
...                       catalog)                                            # doctest: +SKIP
"""

from __future__ import annotations

from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.fit import device_fit, host_fit
from fleetsim.hardware.roofline import InferenceCost, call_terms, evaluate
from fleetsim.hardware.specs import DeviceSpec
from fleetsim.hardware.workload import Workload


def calibrated_precisions(device: DeviceSpec) -> list[str]:
    """Precisions the device supports and has at least one (fitted, not excluded) calibration point for."""
    return sorted({p.precision for p in device.calibration
                   if p.precision in device.peak and p.excluded is None})


def inference_cost(device: DeviceSpec, workload: Workload, precision: str, catalog: Catalog,
                   batch: int = 1, throttled: bool = False, host: str | None = None) -> InferenceCost:
    """Latency and energy of one call of ``batch`` inferences of ``workload`` on ``device``;
    ``throttled`` applies the device's sustained-load speed, ``host`` overrides its host CPU."""
    terms = call_terms(device, workload, precision, catalog, batch, host,
                       host_fit=host_fit(device, workload, catalog, host))
    return evaluate(device, terms, device_fit(device, catalog), throttled)
