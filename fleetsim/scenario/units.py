"""Quantities with units at the YAML boundary, SI floats inside.

A small, strict pint registry: only the units a fleet scenario needs, so a typo such
as ``"30 ft"`` for a frame rate is an error rather than a surprise.

>>> parse_quantity("50 Mbit/s", "data_rate")
6250000.0
>>> parse_quantity("2 h", "time")
7200.0
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

import pint

_PREFIXES = """
nano- = 1e-9 = n-
micro- = 1e-6 = u- = µ-
milli- = 1e-3 = m-
kilo- = 1e3 = k-
mega- = 1e6 = M-
giga- = 1e9 = G-
tera- = 1e12 = T-
peta- = 1e15 = P-
kibi- = 2**10 = Ki-
mebi- = 2**20 = Mi-
gibi- = 2**30 = Gi-
tebi- = 2**40 = Ti-
"""

_UNITS = """
second = [time] = s = sec
minute = 60 * second = min
hour = 3600 * second = h = hr
day = 86400 * second = d
hertz = 1 / second = Hz
frame_per_second = hertz = fps
byte = [information] = B
bit = 0.125 * byte
watt = [power] = W
joule = watt * second = J
watt_hour = 3600 * joule = Wh
operation = [operation] = op
OPS = operation / second
FLOP = operation
FLOPS = operation / second
USD = [currency]
meter = [length] = m
kilometer = 1000 * meter = km
mile = 1609.344 * meter = mi
kmh = kilometer / hour
mph = mile / hour
"""


def _registry() -> pint.UnitRegistry:
    reg = pint.UnitRegistry(None, autoconvert_offset_to_baseunit=False)
    for line in (_PREFIXES + _UNITS).strip().splitlines():
        reg.define(line)
    return reg


_REG = _registry()


@dataclass(frozen=True)
class Dimension:
    """A physical kind a field accepts: its pint dimensionality, SI unit and examples."""

    name: str
    dimensionality: str
    si_unit: str
    examples: str


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("time", "[time]", "s", "'20 ms', '30 s', '2 h'"),
        Dimension("frequency", "1/[time]", "Hz", "'30 Hz'"),
        Dimension("data_size", "[information]", "B", "'200 kB', '5 MB', '1 GiB'"),
        Dimension("data_rate", "[information]/[time]", "B/s", "'50 Mbit/s', '2 MB/s'"),
        Dimension("power", "[power]", "W", "'2 W', '500 mW'"),
        Dimension("energy", "[power]*[time]", "J", "'3 J', '1.5 kWh'"),
        Dimension("compute_rate", "[operation]/[time]", "OPS", "'4 TOPS', '312 TFLOPS'"),
        Dimension("compute", "[operation]", "op", "'0.8 Gop', '8.7 GFLOP'"),
        Dimension("price", "[currency]", "USD", "'59.99 USD'"),
        Dimension("price_rate", "[currency]/[time]", "USD/s", "'2.5 USD/h'"),
        Dimension("length", "[length]", "m", "'400 m', '2.5 km'"),
        Dimension("speed", "[length]/[time]", "m/s", "'50 km/h', '30 mph', '12 m/s'"),
        Dimension("energy_per_data", "[power]*[time]/[information]", "J/B", "'438 nJ/bit'"),
    )
}


class QuantityError(ValueError):
    """A quantity string that cannot be read as the expected kind of value."""


def _allowed(dim: Dimension) -> str:
    return f"a {dim.name.replace('_', ' ')} with a unit, e.g. {dim.examples}"


def parse_quantity(text: object, kind: str) -> float:
    """Parse ``text`` such as ``"20 ms"`` into an SI float of dimension ``kind``.

    Raises:
        QuantityError: the text has no unit, an unknown unit, or the wrong dimension.
    """
    dim = DIMENSIONS[kind]
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise QuantityError(f"expected a quantity string (allowed: {_allowed(dim)})")
    if isinstance(text, int | float):
        raise QuantityError(f"{text!r} has no unit (allowed: {_allowed(dim)})")
    try:
        quantity = _quantity(text.strip())
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError) as err:
        raise QuantityError(f"unknown unit in {text!r} (allowed: {_allowed(dim)})") from err
    except Exception as err:  # pint raises assorted parser errors on garbage
        raise QuantityError(f"cannot read {text!r} as a quantity (allowed: {_allowed(dim)})") from err
    if not isinstance(quantity, pint.Quantity) or quantity.dimensionless:
        raise QuantityError(f"{text!r} has no unit (allowed: {_allowed(dim)})")
    if quantity.dimensionality != _REG.get_dimensionality(dim.dimensionality):
        raise QuantityError(
            f"{text!r} is not a {dim.name.replace('_', ' ')} (allowed: {_allowed(dim)})"
        )
    value = float(quantity.to(dim.si_unit).magnitude)
    if not math.isfinite(value):
        raise QuantityError(f"{text!r} is not finite (allowed: {_allowed(dim)})")
    return value


_NUMBER_UNIT = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?) +([A-Za-zµ]+(?:/[A-Za-zµ]+)?)")
"""The common spelling, a number and a unit such as ``"20 ms"`` or ``"50 Mbit/s"``."""


def _quantity(text: str) -> pint.Quantity:
    """pint's reading of ``text``; a number and a unit are read with the unit parsed once per
    spelling (ten times faster: a catalog holds hundreds of quantities), the number as the same
    int or float pint's expression parser makes of it, so the SI value is the same."""
    simple = _NUMBER_UNIT.fullmatch(text)
    if simple is None:
        return _REG.Quantity(text)
    number, unit = simple.groups()
    whole = number.lstrip("+-").isdigit() and "/" not in unit  # pint divides by a unit after '/'
    value = int(number) if whole else float(number)
    return _REG.Quantity(value, _units(unit))


@cache
def _units(spelling: str) -> pint.Unit:
    return _REG.parse_units(spelling)


def format_quantity(value: float, kind: str) -> str:
    """Write an SI float back as a quantity string that parses to the same float."""
    return f"{value!r} {DIMENSIONS[kind].si_unit}"
