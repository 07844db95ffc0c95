"""Purchase cost of the fleet's edge hardware: each vehicle's accelerator and the host CPU it needs."""

from __future__ import annotations

from fleetsim.hardware.catalog import Catalog


def _price(catalog: Catalog, device_id: str | None) -> float | None:
    """A device's sourced unit price in USD; 0 for no device, None when the catalog has no price."""
    if device_id is None:
        return 0.0
    price = catalog.device(device_id).unit_price
    return None if price is None else float(price.value)


def _sum(parts) -> float | None:
    parts = list(parts)
    return None if any(p is None for p in parts) else float(sum(parts))


def _times(price: float | None, count: int) -> float | None:
    return None if price is None else price * count


def hardware_figures(scenario, catalog: Catalog) -> tuple[dict, dict]:
    """(summary ``hardware`` section, per-group sections): one accelerator and its host per vehicle.

    A device without a sourced ``unit_price`` makes every sum it enters None and is listed
    under ``unpriced``; nothing is guessed.
    """
    groups, unpriced = {}, set()
    for spec in scenario.fleet.groups:
        host = catalog.vehicle_host(spec.accelerator, spec.host)
        accelerator, host_price = _price(catalog, spec.accelerator), _price(catalog, host)
        unpriced |= {d for d, p in ((spec.accelerator, accelerator), (host, host_price)) if p is None}
        groups[spec.name] = {
            "accelerator_unit_usd": accelerator,
            "host_cpu": host,
            "host_unit_usd": host_price,
            "accelerator_usd": _times(accelerator, spec.count),
            "host_usd": _times(host_price, spec.count),
        }
        groups[spec.name]["fleet_usd"] = _sum((groups[spec.name]["accelerator_usd"],
                                               groups[spec.name]["host_usd"]))
    fleet = {key: _sum(g[key] for g in groups.values())
             for key in ("accelerator_usd", "host_usd", "fleet_usd")}
    fleet["unpriced"] = sorted(unpriced)
    return fleet, groups


class HardwareCost:
    """Collector of the ``hardware`` section and each group's ``hardware`` figures."""

    def __init__(self, scenario, catalog: Catalog):
        self.scenario = scenario
        self.catalog = catalog

    def tables(self) -> dict:
        return {}

    def summary(self, tables: dict) -> dict:
        fleet, groups = hardware_figures(self.scenario, self.catalog)
        return {"hardware": fleet, "groups": {name: {"hardware": g} for name, g in groups.items()}}
