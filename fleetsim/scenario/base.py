"""Shared pieces of the scenario models."""

from __future__ import annotations

from pydantic import AfterValidator, BaseModel, ConfigDict


class Strict(BaseModel):
    """Base of every scenario model: unknown keys rejected, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _unique_names(what: str) -> AfterValidator:
    """Validator for a list of named entries whose names must differ."""

    def check(items: list) -> list:
        names = [item.name for item in items]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate {what} name(s): {', '.join(duplicates)} (names must be unique)")
        return items

    return AfterValidator(check)
