"""Turn pydantic validation errors into compiler-style issues: FILE:LINE: path: message."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fleetsim.errors import Issue, ScenarioError
from fleetsim.scenario.yamlfile import YamlDocument

M = TypeVar("M", bound=BaseModel)


def dotted(path: tuple[str | int, ...]) -> str:
    """``('fleet', 'groups', 0, 'count')`` -> ``fleet.groups[0].count``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(tp: Any) -> list[Any]:
    """The concrete types behind Annotated / Optional / Union / list annotations."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(tp) for t in _unwrap(arg)]
    return [tp]


def _candidates(root: type[BaseModel], path: tuple[str | int, ...]) -> list[Any]:
    """Types the value at ``path`` may have (several where a union is not yet resolved)."""
    candidates: list[Any] = [root]
    for part in path:
        nxt: list[Any] = []
        for tp in candidates:
            if isinstance(part, int) and typing.get_origin(tp) in (list, tuple):
                nxt += _unwrap(typing.get_args(tp)[0])
            elif isinstance(tp, type) and issubclass(tp, BaseModel):
                if part in tp.model_fields:
                    nxt += _unwrap(tp.model_fields[part].annotation)
                elif _tag(tp) == part and len(candidates) > 1:
                    nxt.append(tp)
        candidates = nxt
    return candidates


def _model_at(root: type[BaseModel], path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that owns the keys at ``path`` (discriminator tags honoured)."""
    models = [t for t in _candidates(root, path) if isinstance(t, type) and issubclass(t, BaseModel)]
    return models[0] if len(models) == 1 else None


def _tag(model: type[BaseModel]) -> str | None:
    if isinstance(getattr(model, "union_tag", None), str):
        return model.union_tag
    field = model.model_fields.get("kind")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return args[0] if len(args) == 1 else None


def _message(root: type[BaseModel], error: dict[str, Any], data: Any) -> str:
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx", {})
    if kind == "extra_forbidden":
        owner = _model_at(root, loc[:-1])
        allowed = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown key '{loc[-1]}' ({hint}allowed: {', '.join(allowed)})"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"{error['input']!r} is not allowed (allowed: {ctx.get('expected', '')})"
    if kind == "union_tag_invalid":
        return f"unknown kind {ctx.get('tag')!r} (allowed: {ctx.get('expected_tags')})"
    if kind == "union_tag_not_found":
        return f"missing 'kind' (allowed: {ctx.get('expected_tags', '')})" if ctx else "missing 'kind'"
    bounds = {"greater_than": "> {gt}", "greater_than_equal": ">= {ge}",
              "less_than": "< {lt}", "less_than_equal": "<= {le}"}
    if kind in bounds:
        return f"{error['input']!r} is out of range (allowed: {bounds[kind].format(**ctx)})"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{error['input']!r} is not an integer (allowed: a whole number)"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"{error['input']!r} is not a finite number (allowed: a number)"
    if kind in ("bool_type", "bool_parsing"):
        return f"{error['input']!r} is not a boolean (allowed: true, false)"
    if kind in ("string_type",):
        return f"{error['input']!r} is not a string (allowed: text)"
    if kind in ("list_type",):
        return "expected a list (allowed: a YAML sequence of entries)"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "expected a mapping (allowed: keys and values)"
    if kind == "too_short":
        return "must not be empty (allowed: at least one entry)"
    msg = error["msg"]
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg


def validate_document(model: type[M], doc: YamlDocument, context: dict | None = None) -> M:
    """Validate ``doc`` as ``model``; every failure becomes an Issue with file and line."""
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as err:
        issues = [
            Issue(doc.file, doc.line_of(e["loc"]), dotted(_drop_tags(model, e["loc"])),
                  _message(model, e, doc.data))
            for e in err.errors(include_url=False)
        ]
        raise ScenarioError(issues) from None


def _drop_tags(root: type[BaseModel], loc: tuple) -> tuple:
    """Remove the discriminator tags pydantic inserts into error locations."""
    out: list = []
    for part in loc:
        options = _candidates(root, tuple(out))
        models = [t for t in options if isinstance(t, type) and issubclass(t, BaseModel)]
        if len(options) > 1 and any(_tag(t) == part for t in models):
            continue
        out.append(part)
    return tuple(out)
