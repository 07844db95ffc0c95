"""Plug-in slots of the scenario: a ``kind`` union that a registered model may join.

A slot (retraining policies, sample selection, rollout strategies) starts with its built-in
models, validated as a strict pydantic union on ``kind`` (so reference docs list them and
errors name the field); ``register`` adds a model whose ``kind`` the slot then accepts too,
validated by that model and written back (``model_dump``) by it. An unknown kind is one
clear error listing every allowed kind. A slot with a ``default`` kind reads a mapping
without ``kind`` as that kind.

>>> SLOT = Kinds([NeverRetrain, PeriodicRetrain])        # doctest: +SKIP
>>> policy: SLOT.annotation() = Field(...)               # doctest: +SKIP
"""

from __future__ import annotations

import typing
from functools import reduce
from operator import or_
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError, WrapSerializer, WrapValidator
from pydantic_core import PydanticCustomError


def kind_of(model: type[BaseModel]) -> str:
    """The ``kind`` literal of ``model``."""
    (kind,) = typing.get_args(model.model_fields["kind"].annotation)
    return kind


class Kinds:
    """The models of one plug-in slot, by ``kind``: built-in ones and registered ones."""

    def __init__(self, builtin: list[type[BaseModel]], default: str | None = None):
        self.builtin = {kind_of(m): m for m in builtin}
        self.registered: dict[str, type[BaseModel]] = {}
        self.default = default  # the kind of a mapping that gives none (None: kind is required)

    def register(self, model: type[BaseModel]) -> str:
        """Accept ``model`` in this slot from now on; return its kind."""
        kind = kind_of(model)
        if kind in self.builtin:
            raise ValueError(f"kind {kind!r} is built in (allowed: a new kind)")
        self.registered[kind] = model
        return kind

    def allowed(self) -> str:
        return ", ".join(f"'{k}'" for k in [*self.builtin, *self.registered])

    def annotation(self) -> Any:
        """The field type: the built-in union on ``kind``, open to registered kinds."""
        hooks = (WrapValidator(self._validate), WrapSerializer(self._serialize))
        if len(self.builtin) == 1:
            return Annotated[next(iter(self.builtin.values())), *hooks]
        union = reduce(or_, self.builtin.values())
        return Annotated[union, Field(discriminator="kind"), *hooks]

    def _validate(self, value, handler):
        if isinstance(value, tuple(self.registered.values())):
            return value
        if isinstance(value, dict) and "kind" not in value and self.default is not None:
            value = {"kind": self.default, **value}
        kind = value.get("kind") if isinstance(value, dict) else None
        if isinstance(kind, str) and kind in self.registered:
            try:
                return self.registered[kind].model_validate(value)
            except ValidationError as err:  # the first problem, at its key within the slot
                first = err.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                raise PydanticCustomError("registered_kind", "{where}: {msg}",
                                          {"where": where, "msg": first["msg"]}) from None
        known = isinstance(kind, str) and kind in self.builtin
        if isinstance(value, dict) and "kind" in value and not known:
            raise PydanticCustomError("union_tag_invalid", "unknown kind {tag} (allowed: {expected_tags})",
                                      {"tag": kind, "expected_tags": self.allowed()})
        return handler(value)

    def _serialize(self, value, handler, info):
        if type(value) in self.registered.values():
            return value.model_dump(mode=info.mode)
        return handler(value)
