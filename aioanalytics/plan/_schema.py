"""JSON Schema, as tracking plans use it, turned into a small tree of types.

Theory of operation: :func:`convert` reads one schema and returns a :data:`Spec`, a tree of
frozen nodes (scalar, enum, array, object, map, union, any). Two back ends read the tree:
:mod:`._runtime` builds pydantic models that check wire messages, :mod:`._codegen` writes
the source of a module of pydantic models and typed functions. Neither knows JSON Schema.

Rules:

1. Every keyword is either understood, an annotation with no effect on validity
   (``title``, ``description``, ``examples``...), or reported as an :class:`Unsupported`
   with its path. Nothing is skipped quietly: a keyword the check cannot enforce is one the
   plan's owner must hear about.
2. An object's ``additionalProperties`` decides whether unknown keys are allowed; where the
   schema does not say, the caller's default applies (forbidden for properties and traits,
   allowed for ``context``, which libraries fill in).
3. ``type`` may be a list (``["string", "null"]``): each listed type takes the keywords that
   apply to it. A keyword that applies to no listed type is reported.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel

from ._formats import FORMATS

__all__ = [
    "AnyValue",
    "Array",
    "Enum",
    "Field",
    "MapOf",
    "Object",
    "Scalar",
    "Spec",
    "Union",
    "Unsupported",
    "class_name",
    "convert",
    "identifier",
]

Extra: TypeAlias = Literal["forbid", "allow"]

#: Keywords that describe a value without constraining it.
ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "id",
        "$comment",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
_KEYWORDS: dict[str, frozenset[str]] = {
    "string": frozenset({"minLength", "maxLength", "pattern", "format"}),
    "number": frozenset(
        {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
    ),
    "array": frozenset({"items", "minItems", "maxItems", "uniqueItems"}),
    "object": frozenset({"properties", "required", "additionalProperties"}),
    "boolean": frozenset(),
    "null": frozenset(),
}
_KEYWORDS["integer"] = _KEYWORDS["number"]
_TYPES = tuple(_KEYWORDS)
_CONSTRAINTS = {
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "multipleOf": "multiple_of",
}


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A keyword (or value) of the plan that is not checked, and where it is.

    Attributes:
        path: Where it sits, e.g. ``"Order Completed.properties.products.items"``.
        keyword: The keyword, e.g. ``"oneOf"``.
        reason: Why it is not checked.
    """

    path: str
    keyword: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.keyword!r} {self.reason}"


@dataclass(frozen=True, slots=True)
class Scalar:
    """A string, number, integer, boolean or null, with its constraints."""

    type: Literal["string", "number", "integer", "boolean", "null"]
    format: str | None = None
    #: pydantic ``Field`` keyword arguments: min_length, pattern, ge, lt, multiple_of...
    constraints: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Enum:
    """One of a fixed set of JSON values (``enum``, ``const``)."""

    values: tuple[str | int | bool | None, ...]


@dataclass(frozen=True, slots=True)
class Array:
    """A list whose items all follow one spec."""

    items: Spec
    min_items: int | None = None
    max_items: int | None = None
    unique: bool = False


@dataclass(frozen=True, slots=True)
class Field:
    """One property of an object: its JSON name, a Python name for it, and its spec."""

    name: str
    python_name: str
    spec: Spec
    required: bool
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Object:
    """An object with named properties: a model of its own."""

    name: str
    fields: tuple[Field, ...]
    extra: Extra
    description: str | None = None
    #: Where it is in the plan, e.g. ``Order Completed.properties.products.items``.
    where: str = ""


@dataclass(frozen=True, slots=True)
class MapOf:
    """An object with any keys, whose values all follow one spec."""

    values: Spec


@dataclass(frozen=True, slots=True)
class Union:
    """Any of several specs (a ``type`` list)."""

    options: tuple[Spec, ...]


@dataclass(frozen=True, slots=True)
class AnyValue:
    """Any JSON value."""


Spec: TypeAlias = Scalar | Enum | Array | Object | MapOf | Union | AnyValue


@dataclass(slots=True)
class _Context:
    default_extra: Extra
    unsupported: list[Unsupported] = field(default_factory=list)

    def report(self, path: str, keyword: str, reason: str) -> None:
        self.unsupported.append(Unsupported(path, keyword, reason))


def convert(
    schema: Any, *, path: str, name: str, default_extra: Extra
) -> tuple[Spec, list[Unsupported]]:
    """Turn a JSON Schema into a :data:`Spec`.

    Args:
        schema: The schema (a dict, or ``True``).
        path: Where it sits in the plan, for reports.
        name: The class name for it if it is an object; nested objects extend it.
        default_extra: Whether an object that does not say may hold unknown keys.

    Returns:
        The spec, and what in the schema is not checked.
    """
    context = _Context(default_extra)
    return _convert(schema, path, name, context), context.unsupported


def _convert(schema: Any, path: str, name: str, ctx: _Context) -> Spec:
    if schema is True or schema == {}:
        return AnyValue()
    if not isinstance(schema, Mapping):
        ctx.report(path, str(schema), "is not a schema (expected an object)")
        return AnyValue()
    declared = schema.get("type")
    if isinstance(declared, str):
        types = [declared]
    elif isinstance(declared, list) and declared and all(isinstance(t, str) for t in declared):
        types = list(dict.fromkeys(declared))
    elif declared is None:
        types = _infer(schema)
    else:
        ctx.report(path, "type", f"must be a type name or a list of them, got {declared!r}")
        types = []
    for kind in types:
        if kind not in _KEYWORDS:
            ctx.report(path, "type", f"names an unknown type {kind!r}")
    types = [kind for kind in types if kind in _KEYWORDS]
    used = set(ANNOTATIONS) | {"type"}
    spec: Spec
    if "enum" in schema or "const" in schema:
        spec = _enum(schema, path, ctx)
        used |= {"enum", "const"}
        # The values say it all; type keywords are consistent with them or contradict them.
        for kind in types:
            used |= _KEYWORDS[kind]
    elif not types:
        spec = AnyValue()
    else:
        options = [_typed(kind, schema, path, name, ctx) for kind in types]
        for kind in types:
            used |= _KEYWORDS[kind]
        spec = options[0] if len(options) == 1 else Union(tuple(options))
    for key in schema:
        if key not in used:
            applies = [kind for kind, words in _KEYWORDS.items() if key in words]
            if applies:
                reason = f"applies to {'/'.join(applies)} values, not to {'/'.join(types) or 'any'}"
            else:
                reason = "is not supported: not checked"
            ctx.report(path, key, reason)
    return spec


def _infer(schema: Mapping[str, Any]) -> list[str]:
    """The type a schema without ``type`` describes, when its keywords say so."""
    if "properties" in schema or "additionalProperties" in schema:
        return ["object"]
    if "items" in schema:
        return ["array"]
    return []


def _enum(schema: Mapping[str, Any], path: str, ctx: _Context) -> Spec:
    values = [schema["const"]] if "const" in schema else schema["enum"]
    if not isinstance(values, list) or not values:
        ctx.report(path, "enum", "must be a non-empty list")
        return AnyValue()
    literal = [v for v in values if v is None or isinstance(v, str | int | bool)]
    if len(literal) != len(values):
        ctx.report(path, "enum", "values other than strings, integers, booleans and null")
        return AnyValue()
    return Enum(tuple(dict.fromkeys(literal)))


def _typed(kind: str, schema: Mapping[str, Any], path: str, name: str, ctx: _Context) -> Spec:
    if kind == "object":
        return _object(schema, path, name, ctx)
    if kind == "array":
        return _array(schema, path, name, ctx)
    if kind in ("boolean", "null"):
        return Scalar(kind)  # type: ignore[arg-type]
    constraints: list[tuple[str, Any]] = []
    for key in sorted(_KEYWORDS[kind] - {"format"}):
        if key not in schema:
            continue
        value = schema[key]
        if key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            # Draft 4: a flag that makes minimum/maximum exclusive.
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in schema:
                constraints = [c for c in constraints if c[0] != _CONSTRAINTS[bound]]
                constraints.append((_CONSTRAINTS[key], schema[bound]))
            continue
        if key in ("minimum", "maximum"):
            flag = schema.get("exclusiveMinimum" if key == "minimum" else "exclusiveMaximum")
            if flag is True:
                continue  # taken as gt/lt above or below
        if key == "pattern":
            if not isinstance(value, str) or not _compiles(value):
                ctx.report(path, key, f"is not a valid regular expression: {value!r}")
                continue
        elif isinstance(value, bool) or not isinstance(value, int | float):
            ctx.report(path, key, f"must be a number, got {value!r}")
            continue
        constraints.append((_CONSTRAINTS[key], value))
    fmt = None
    if kind == "string" and "format" in schema:
        fmt = schema["format"]
        if fmt not in FORMATS:
            ctx.report(path, "format", f"{fmt!r} is not supported: not checked")
            fmt = None
    return Scalar(kind, fmt, tuple(sorted(constraints)))  # type: ignore[arg-type]


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _array(schema: Mapping[str, Any], path: str, name: str, ctx: _Context) -> Spec:
    items = schema.get("items", True)
    if isinstance(items, list):
        ctx.report(f"{path}.items", "items", "as a list (tuple validation) is not supported")
        items = True
    bounds: dict[str, int | None] = {}
    for key in ("minItems", "maxItems"):
        value = schema.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            ctx.report(path, key, f"must be an integer, got {value!r}")
            value = None
        bounds[key] = value
    unique = schema.get("uniqueItems", False)
    return Array(
        _convert(items, f"{path}.items", f"{name}Item", ctx),
        bounds["minItems"],
        bounds["maxItems"],
        unique is True,
    )


def _object(schema: Mapping[str, Any], path: str, name: str, ctx: _Context) -> Spec:
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        ctx.report(path, "properties", "must be an object")
        properties = {}
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        ctx.report(path, "required", "must be a list of property names")
        required = []
    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping) and additional:
        values = _convert(additional, f"{path}.additionalProperties", f"{name}Value", ctx)
        if not properties:
            return MapOf(values)
        ctx.report(path, "additionalProperties", "as a schema next to properties is not checked")
        extra: Extra = "allow"
    elif additional is False:
        extra = "forbid"
    elif additional is True or additional == {}:
        extra = "allow"
    elif additional is None:
        extra = ctx.default_extra
    else:
        ctx.report(path, "additionalProperties", f"must be a boolean or a schema: {additional!r}")
        extra = ctx.default_extra
    if "properties" not in schema and not required and additional is not False:
        return MapOf(AnyValue())  # a free-form object: nothing about its keys is planned
    names = [*properties, *(r for r in required if r not in properties)]
    python_names = _python_names(names)
    fields = []
    for json_name in names:
        sub = properties.get(json_name, True)
        python_name = python_names[json_name]
        spec = _convert(sub, f"{path}.{json_name}", name + class_name(python_name), ctx)
        description = sub.get("description") if isinstance(sub, Mapping) else None
        fields.append(
            Field(
                json_name,
                python_name,
                spec,
                json_name in required,
                description if isinstance(description, str) else None,
            )
        )
    description = schema.get("description")
    return Object(
        name, tuple(fields), extra, description if isinstance(description, str) else None, path
    )


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^0-9a-zA-Z]+")


def identifier(name: str) -> str:
    """A snake_case Python identifier for a JSON name (``"Order ID"`` -> ``order_id``)."""
    text = _NOT_WORD.sub("_", _CAMEL.sub("_", name)).strip("_").lower() or "field"
    if text[0].isdigit():
        text = f"n{text}"
    if keyword.iskeyword(text) or keyword.issoftkeyword(text):
        text += "_"
    return text


def class_name(name: str) -> str:
    """A CamelCase class name for a name (``"order completed"`` -> ``OrderCompleted``)."""
    parts = [p for p in _NOT_WORD.split(_CAMEL.sub(" ", name)) if p]
    text = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    return f"N{text}" if text[0].isdigit() else text


def _python_names(names: list[str]) -> dict[str, str]:
    """Python names for JSON names, unique: a clash gets ``_2``, ``_3``..."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = identifier(name)
        candidate, n = base, 2
        if hasattr(BaseModel, base):  # would shadow a model method: json, copy, schema...
            candidate = base = f"{base}_"
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        taken.add(candidate)
        out[name] = candidate
    return out
