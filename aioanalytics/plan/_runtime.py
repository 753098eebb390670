"""Specs as pydantic types that check wire messages (JSON values, checked strictly).

Theory of operation: :func:`compile_rule` builds, once per rule, a pydantic model of the
whole message with one field per part the rule describes (``properties``, ``traits``,
``context``); nested objects become nested models, created with :func:`pydantic.create_model`.
Every model is strict (no coercion: ``"39.95"`` is not a number, ``1`` is not a string, an
integer is a number) and keeps unknown top-level keys out of the way (``userId``,
``messageId``... are not the plan's business). Field names are Python identifiers; the JSON
name is the alias, so error locations read as the wire does.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, create_model
from pydantic import Field as PydanticField

from ._formats import wire_format
from ._plan import Rule, Violation, describe_errors
from ._schema import AnyValue, Array, Enum, MapOf, Object, Scalar, Spec, Union

__all__ = ["compile_rule", "python_type"]

_SCALARS: dict[str, Any] = {
    "string": str,
    "number": float,
    "integer": int,
    "boolean": bool,
    "null": None,
}


def compile_rule(rule: Rule) -> Callable[[str, Mapping[str, Any]], list[Violation]]:
    """Return a function checking a wire message against ``rule``: ``(label, message)`` to
    its violations."""
    fields: dict[str, Any] = {}
    for part, spec in rule.parts.items():
        default = ... if part in rule.required else None
        fields[f"part_{len(fields)}"] = (
            python_type(spec),
            PydanticField(default=default, alias=part),
        )
    model = create_model(
        f"{rule.kind.title()}Message",
        __config__=ConfigDict(strict=True, extra="ignore", regex_engine="python-re"),
        **fields,
    )
    validate = model.model_validate

    def check(label: str, message: Mapping[str, Any]) -> list[Violation]:
        try:
            validate(message)
        except ValidationError as exc:
            return describe_errors(label, exc, message)
        return []

    return check


def python_type(spec: Spec) -> Any:
    """The pydantic type that checks a JSON value against ``spec``."""
    if isinstance(spec, Scalar):
        base = wire_format(spec.format) if spec.format else _SCALARS[spec.type]
        if spec.constraints:
            return Annotated[base, PydanticField(**dict(spec.constraints))]
        return base
    if isinstance(spec, Enum):
        return Literal[spec.values]
    if isinstance(spec, Array):
        items: Any = list[python_type(spec.items)]  # type: ignore[misc]
        if spec.min_items is not None or spec.max_items is not None:
            items = Annotated[
                items, PydanticField(min_length=spec.min_items, max_length=spec.max_items)
            ]
        if spec.unique:
            items = Annotated[items, AfterValidator(_unique)]
        return items
    if isinstance(spec, Object):
        return _model(spec)
    if isinstance(spec, MapOf):
        return dict[str, python_type(spec.values)]  # type: ignore[misc]
    if isinstance(spec, Union):
        return functools.reduce(operator.or_, [python_type(option) for option in spec.options])
    assert isinstance(spec, AnyValue)
    return Any


def _model(spec: Object) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for field in spec.fields:
        default = ... if field.required else None
        fields[field.python_name] = (
            python_type(field.spec),
            PydanticField(default=default, alias=field.name),
        )
    config = ConfigDict(
        strict=True,
        extra="forbid" if spec.extra == "forbid" else "ignore",
        regex_engine="python-re",
        protected_namespaces=(),
    )
    model: type[BaseModel] = create_model(spec.name, __config__=config, **fields)
    return model


def _unique(items: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        # JSON equality: true is not 1 (Python says it is).
        key = (type(item) is bool, item)
        if key in seen:
            raise ValueError("items must be unique")
        seen.append(key)
    return items
