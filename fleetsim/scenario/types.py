"""Annotated field types for scenario models: quantities, names, bounded numbers."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer
from pydantic_core import PydanticCustomError

from fleetsim.scenario.units import DIMENSIONS, QuantityError, format_quantity, parse_quantity


def _parser(kind: str):
    def parse(value: Any) -> float:
        try:
            return parse_quantity(value, kind)
        except QuantityError as err:
            raise PydanticCustomError("quantity", str(err)) from None

    return parse


def _positive(kind: str):
    example = DIMENSIONS[kind].examples.split(",")[0]

    def check(value: float) -> float:
        if not value > 0:
            raise PydanticCustomError(
                "positive", f"must be greater than zero (allowed: a positive value, e.g. {example})"
            )
        return value

    return check


def _non_negative(value: float) -> float:
    if value < 0:
        raise PydanticCustomError("non_negative", "must not be negative (allowed: >= 0)")
    return value


def quantity(kind: str, *, allow_zero: bool = False) -> Any:
    """A float field written with a unit of ``kind`` in YAML, stored as an SI float."""
    check = _non_negative if allow_zero else _positive(kind)
    return Annotated[
        float,
        BeforeValidator(_parser(kind)),
        AfterValidator(check),
        PlainSerializer(lambda v: format_quantity(v, kind), return_type=str, when_used="json"),
        Field(json_schema_extra={"unit_kind": kind, "examples": [DIMENSIONS[kind].examples]}),
    ]


Duration = quantity("time")
NonNegativeDuration = quantity("time", allow_zero=True)
Frequency = quantity("frequency")
DataSize = quantity("data_size")
DataRate = quantity("data_rate")
Power = quantity("power")
NonNegativePower = quantity("power", allow_zero=True)
ComputeRate = quantity("compute_rate")
Price = quantity("price", allow_zero=True)
PriceRate = quantity("price_rate", allow_zero=True)
Length = quantity("length")
Speed = quantity("speed")
EnergyPerData = quantity("energy_per_data", allow_zero=True)
Energy = quantity("energy")


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise PydanticCustomError("finite", "must be a finite number")
    return value


Fraction = Annotated[float, Field(gt=0, le=1), AfterValidator(_finite)]
"""A share in (0, 1]."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise PydanticCustomError(
            "name", f"{value!r} is not a valid name (allowed: lower-case letters, digits and _, "
            "starting with a letter)",
        )
    return value


Name = Annotated[str, AfterValidator(_name)]
"""An identifier used in tables and references: ``urban_fleet``, ``lte_cell``."""


def _resolution(value: Any) -> tuple[int, int]:
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", value)
        if match and int(match[1]) > 0 and int(match[2]) > 0:
            return int(match[1]), int(match[2])
    raise PydanticCustomError(
        "resolution", f"{value!r} is not a resolution (allowed: WIDTHxHEIGHT, e.g. '1920x1080')"
    )


Resolution = Annotated[
    tuple[int, int],
    BeforeValidator(_resolution),
    PlainSerializer(lambda v: f"{v[0]}x{v[1]}", return_type=str, when_used="json"),
]
