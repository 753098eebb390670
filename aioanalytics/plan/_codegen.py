"""Write a Python module for a tracking plan: pydantic models and typed functions.

Theory of operation: each rule's specs become source text, deepest objects first: one
model class per object (``extra="forbid"`` unless the plan allows more; strict, so
``"39.95"`` is not a number), then for each event an ``async`` function that validates its
keyword arguments with the model and calls :meth:`Analytics.track`, and a sync twin
(``..._sync``) for :class:`aioanalytics.sync.Analytics`. Identify and group get the same for
their traits. The text is what ``ruff format`` would write (line length 88 or more: anything
longer is split one item per line, with a trailing comma), so it passes ``ruff`` and
``mypy --strict`` as it stands.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from ._formats import EMAIL, URI, UUID
from ._plan import Rule, TrackingPlan
from ._schema import (
    AnyValue,
    Array,
    Enum,
    MapOf,
    Object,
    Scalar,
    Spec,
    Union,
    class_name,
    identifier,
)

__all__ = ["generate_module"]

_WIDTH = 88
_INDENT = "    "
#: How each format is written in generated code: a pydantic or stdlib type, or a string
#: type with the pattern the plan check uses (anchored), defined once in the module.
_FORMAT_TYPES = {"date-time": "AwareDatetime", "date": "date"}
_FORMAT_ALIASES = {"email": ("Email", EMAIL), "uri": ("URI", URI), "uuid": ("UUIDString", UUID)}
#: Keyword arguments every generated function has besides the properties or traits.
_COMMON = ("user_id", "anonymous_id", "context", "timestamp", "integrations", "message_id")
_RESERVED = frozenset({"analytics", "group_id", *_COMMON})


@dataclass(slots=True)
class _Module:
    classes: list[str] = field(default_factory=list)
    #: Names taken at module level; the format aliases are always free to use.
    class_names: set[str] = field(default_factory=lambda: {"Email", "URI", "UUIDString"})
    models: dict[Object, str] = field(default_factory=dict)
    typing: set[str] = field(default_factory=set)
    pydantic: set[str] = field(default_factory=lambda: {"BaseModel", "ConfigDict"})
    formats: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    needs_unique: bool = False
    #: Module-level names given to types too long for their line, by (class, field).
    long_types: dict[tuple[str, str], str] = field(default_factory=dict)
    exports: list[str] = field(default_factory=list)


def generate_module(plan: TrackingPlan, *, source: str | None = None) -> str:
    """Return the source of a module with a model and typed functions per event of ``plan``.

    Args:
        plan: The tracking plan.
        source: How to regenerate the module, named in its docstring (e.g. the command).

    Raises:
        PlanError: two events would get the same Python name.
    """
    module = _Module()
    functions: list[str] = []
    seen: dict[str, str] = {}
    for name, rule in sorted(plan.events.items()):
        function = f"track_{identifier(name).rstrip('_')}"
        if function in seen:
            from ._plan import PlanError

            raise PlanError(
                f"events {seen[function]!r} and {name!r} would both be {function}(); rename one"
            )
        seen[function] = name
        functions.append(_functions(module, rule, "track", function))
    for kind, traits in (("identify", plan.identify), ("group", plan.group)):
        if traits is not None:
            functions.append(_functions(module, traits, kind, kind))
    return _assemble(plan, module, functions, source)


# -- types ----------------------------------------------------------------------------------


def _type(module: _Module, spec: Spec, *, constraints: bool = True) -> str:
    """The annotation for ``spec``; without ``constraints``, only what a type checker sees."""
    if isinstance(spec, Scalar):
        if spec.format in _FORMAT_ALIASES:
            base = _FORMAT_ALIASES[spec.format][0]
            module.formats.add(spec.format)
            module.typing.add("Annotated")
            module.pydantic.add("Field")
        elif spec.format:
            base = _FORMAT_TYPES[spec.format]
            if base == "date":
                module.dates.add("date")
            else:
                module.pydantic.add(base)
        else:
            base = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"}.get(
                spec.type, "None"
            )
        if spec.constraints and constraints:
            module.typing.add("Annotated")
            module.pydantic.add("Field")
            arguments = ", ".join(f"{key}={_literal(value)}" for key, value in spec.constraints)
            return f"Annotated[{base}, Field({arguments})]"
        return base
    if isinstance(spec, Enum):
        module.typing.add("Literal")
        if spec.values == (None,):
            return "None"
        return f"Literal[{', '.join(_literal(v) for v in spec.values)}]"
    if isinstance(spec, Array):
        text = f"list[{_type(module, spec.items, constraints=constraints)}]"
        if not constraints:
            return text
        metadata = []
        bounds = []
        if spec.min_items is not None:
            bounds.append(f"min_length={spec.min_items}")
        if spec.max_items is not None:
            bounds.append(f"max_length={spec.max_items}")
        if bounds:
            module.pydantic.add("Field")
            metadata.append(f"Field({', '.join(bounds)})")
        if spec.unique:
            module.pydantic.add("AfterValidator")
            module.needs_unique = True
            metadata.append("AfterValidator(_unique)")
        if metadata:
            module.typing.add("Annotated")
            text = f"Annotated[{text}, {', '.join(metadata)}]"
        return text
    if isinstance(spec, Object):
        return _class(module, spec)
    if isinstance(spec, MapOf):
        return f"dict[str, {_type(module, spec.values, constraints=constraints)}]"
    if isinstance(spec, Union):
        parts = [_type(module, option, constraints=constraints) for option in spec.options]
        parts = list(dict.fromkeys(parts))
        if "None" in parts:  # None last, as people write it
            parts = [p for p in parts if p != "None"] + ["None"]
        return " | ".join(parts)
    assert isinstance(spec, AnyValue)
    module.typing.add("Any")
    return "Any"


def _nullable(text: str) -> bool:
    return text == "None" or text == "Any" or text.endswith(" | None")


def _class(module: _Module, spec: Object) -> str:
    """Write the model for ``spec`` (once) and return its name."""
    known = module.models.get(spec)
    if known is not None:
        return known
    name = spec.name
    while name in module.class_names:  # another object of the plan has the name
        name += "Model"
    module.class_names.add(name)
    module.models[spec] = name
    body: list[str] = []
    config = f'extra="{spec.extra}", strict=True, regex_engine="python-re"'
    if any(item.python_name != item.name for item in spec.fields):
        config += ", validate_by_name=True"
    body.append(_call("model_config = ConfigDict", config.split(", "), indent=1))
    body.append("")
    for item in spec.fields:
        annotation = _type(module, item.spec)
        alias = item.name if item.python_name != item.name else None
        arguments = [] if item.required else ["default=None"]
        if alias is not None:
            arguments.append(f"alias={_str(alias)}")
        optional = "" if item.required or _nullable(annotation) else " | None"
        head = f"{item.python_name}: {annotation}{optional}"
        if len(_INDENT) + len(head) + len(" = Field(") > _WIDTH:
            annotation = _alias(module, name + class_name(item.python_name), annotation)
            module.long_types[name, item.python_name] = annotation
            head = f"{item.python_name}: {annotation}{optional}"
        if alias is not None:
            line = _call(f"{head} = Field", arguments, indent=1)
        else:
            line = head + ("" if item.required else " = None")
        if item.description:
            body.extend(_comment(item.description, "#: "))
        body.append(line)
    title = spec.description or f"The object at {spec.where} in the tracking plan."
    lines = [f"class {name}(BaseModel):", *_docstring(title, _INDENT), ""]
    lines += [_INDENT + line if line else "" for line in "\n".join(body).split("\n")]
    module.classes.append("\n".join(lines))
    module.exports.append(name)
    return name


# -- functions ------------------------------------------------------------------------------


def _functions(module: _Module, rule: Rule, kind: str, function: str) -> str:
    part = "properties" if kind == "track" else "traits"
    spec = rule.parts.get(part)
    fields = spec.fields if isinstance(spec, Object) else ()
    model = _class(module, spec) if isinstance(spec, Object) else None
    names = {
        f.python_name: f.python_name + "_" if f.python_name in _RESERVED else f.python_name
        for f in fields
    }
    params: list[str] = []
    if kind == "group":
        params.append("group_id: str")
    params += ["user_id: str | None = None", "anonymous_id: str | None = None"]
    required: list[str] = []
    optional: list[str] = []
    for f in fields:
        annotation = _type(module, f.spec, constraints=False)
        optional_type = "" if f.required or _nullable(annotation) else " | None"
        default = "" if f.required else " = None"
        param = f"{names[f.python_name]}: {annotation}{optional_type}{default}"
        if len(_INDENT) + len(param) + 1 > _WIDTH:
            annotation = module.long_types.get((str(model), f.python_name)) or _alias(
                module, f"{model}{class_name(f.python_name)}", annotation
            )
            param = f"{names[f.python_name]}: {annotation}{optional_type}{default}"
        params.append(param)
        (required if f.required else optional).append(f.python_name)
    if model is None:
        params.append(f"{part}: Mapping[str, Any] | None = None")
        module.typing.add("Any")
    params += [
        "context: Mapping[str, Any] | None = None",
        "timestamp: datetime | None = None",
        "integrations: Mapping[str, Any] | None = None",
        "message_id: str | None = None",
    ]
    module.typing.add("Any")
    if model is not None:
        given = [
            _dict([(_str(n), names[n]) for n in required], 3),
            _dict([(_str(n), names[n]) for n in optional], 3),
        ]
        value = _call("_dump", [model, *given], force=True)
    else:
        value = part
    arguments: list[str] = []
    if kind == "track":
        arguments.append(f"event={_str(rule.name)}")
    if kind == "group":
        arguments.append("group_id=group_id")
    arguments.append(f"{part}={value}")
    arguments += [f"{name}={name}" for name in _COMMON]
    what = {"track": f'Track "{rule.name}"', "identify": "Identify a user", "group": "Group"}[kind]
    if kind == "group":
        what = "Associate a user with a group"
    summary = f"{what}: {rule.description}" if rule.description else f"{what}."
    texts = []
    for sync in (False, True):
        name = f"{function}_sync" if sync else function
        client = "SyncAnalytics" if sync else "Analytics"
        returns = "Future[DeliveryResult]" if sync else "Delivery"
        head = f"{'def' if sync else 'async def'} {name}("
        signature = [head, f"{_INDENT}analytics: {client},", f"{_INDENT}*,"]
        signature += [f"{_INDENT}{p}," for p in params]
        signature.append(f") -> {returns}:")
        doc = summary
        if sync:
            doc = f"{summary}\n\nThe blocking twin of :func:`{function}`."
        call = _call(f"analytics.{kind}", arguments, force=True)
        statement = f"return {call}" if sync else f"return await {call}"
        body = [*_docstring(doc, _INDENT), _INDENT + statement.replace("\n", "\n" + _INDENT)]
        texts.append("\n".join([*signature, *body]))
        module.exports.append(name)
    return "\n\n\n".join(texts)


def _call(function: str, arguments: list[str], *, force: bool = False, indent: int = 6) -> str:
    """``function(a, b)`` on one line if it fits at ``indent`` levels and nothing forces a
    split; else one argument per line with a trailing comma (a split ``ruff format`` keeps)."""
    inline = f"{function}({', '.join(arguments)})"
    if not force and "\n" not in inline and len(inline) + len(_INDENT) * indent <= _WIDTH:
        return inline
    inner = [textwrap.indent(a, _INDENT) + "," for a in arguments]
    return "\n".join([f"{function}(", *inner, ")"])


def _dict(items: list[tuple[str, str]], depth: int) -> str:
    """A dict display: on one line if it fits at ``depth`` indents, else one item a line."""
    inline = "{" + ", ".join(f"{key}: {value}" for key, value in items) + "}"
    if len(_INDENT) * depth + len(inline) + 1 <= _WIDTH:
        return inline
    inner = [f"{_INDENT}{key}: {value}," for key, value in items]
    return "\n".join(["{", *inner, "}"])


# -- text -----------------------------------------------------------------------------------


def _alias(module: _Module, name: str, annotation: str) -> str:
    """Give a long type a module-level name, split one item a line with trailing commas (a
    split ``ruff format`` keeps at any line length); return the name."""
    while name in module.class_names:
        name += "Type"
    module.class_names.add(name)
    module.classes.append(f"{name} = {_explode(annotation, 0, len(name) + 3)}")
    return name


def _explode(expression: str, depth: int, prefix: int = 0) -> str:
    """``expression`` as is if it fits after ``prefix`` characters at ``depth`` indents (and
    a trailing comma), else split at its outermost subscript."""
    if len(_INDENT) * depth + prefix + len(expression) + 1 <= _WIDTH:
        return expression
    head, sep, rest = expression.partition("[")
    if not sep or not rest.endswith("]") or " | " in head:
        return expression
    items = _top_level(rest[:-1], ", ")
    if len(items) < 2:
        return expression
    inner = [_INDENT * (depth + 1) + _explode(item, depth + 1) + "," for item in items]
    return "\n".join([f"{head}[", *inner, _INDENT * depth + "]"])


def _top_level(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    quote: str | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 2
                continue
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _literal(value: object) -> str:
    if isinstance(value, str):
        return _str(value)
    return repr(value)


def _str(text: str) -> str:
    """A string literal as ``ruff format`` writes it: double quotes unless that needs more
    escapes than single quotes."""
    quote = "'" if '"' in text and "'" not in text else '"'
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == quote:
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


def _clean_text(text: str) -> str:
    text = " ".join(text.split())
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _docstring(text: str, indent: str) -> list[str]:
    paragraphs = [_clean_text(p) for p in text.split("\n\n") if p.strip()]
    width = _WIDTH - len(indent)
    lines: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        if index:
            lines.append("")
        lines += textwrap.wrap(paragraph, width - 3, break_long_words=False) or [""]
    if len(lines) == 1 and len(lines[0]) + 6 <= width and not lines[0].endswith('"'):
        return [f'{indent}"""{lines[0]}"""']
    lines[0] = '"""' + lines[0]
    out = [indent + line if line else "" for line in lines]
    return [*out, f'{indent}"""']


def _comment(text: str, prefix: str) -> list[str]:
    return [prefix + line for line in textwrap.wrap(" ".join(text.split()), _WIDTH - 12)]


# -- the module -----------------------------------------------------------------------------


def _assemble(plan: TrackingPlan, module: _Module, functions: list[str], source: str | None) -> str:
    if plan.name:
        title = f'Typed events for the tracking plan "{plan.name}".'
    else:
        title = "Typed events for a tracking plan."
    doc = [title, "", "Generated by aioanalytics from the tracking plan; do not edit."]
    if source:
        doc.append(f"Regenerate with: {source}")
    if plan.unsupported:
        doc += ["", "Not checked, because the plan uses what aioanalytics does not support:", ""]
        doc += [f"- {issue}" for issue in plan.unsupported]
    header = ['"""' + _clean_line(doc[0]), *(_clean_line(line) for line in doc[1:]), '"""']
    # Only the standard library and pydantic at run time; aioanalytics for the type checker.
    # The import blocks sort the same whether aioanalytics counts as first or third party.
    stdlib = ["from collections.abc import Mapping"]
    stdlib.append(f"from datetime import {', '.join(sorted({'datetime', *module.dates}))}")
    stdlib.append(f"from typing import {_names(module.typing | {'TYPE_CHECKING'})}")
    imports = [
        "from __future__ import annotations",
        "",
        *stdlib,
        "",
        f"from pydantic import {_names(module.pydantic)}",
        "",
        "if TYPE_CHECKING:",
        f"{_INDENT}from concurrent.futures import Future",
        "",
        f"{_INDENT}from aioanalytics import Analytics, Delivery, DeliveryResult",
        f"{_INDENT}from aioanalytics.sync import Analytics as SyncAnalytics",
    ]
    exports = ["__all__ = ["] + [f'{_INDENT}"{name}",' for name in sorted(module.exports)] + ["]"]
    aliases = []
    for fmt in sorted(module.formats):
        name, pattern = _FORMAT_ALIASES[fmt]
        aliases += [
            f"#: A string of the plan's {fmt!r} format.",
            f"{name} = Annotated[",
            f"{_INDENT}str,",
            f'{_INDENT}Field(pattern=r"^{pattern}\\Z"),',
            "]",
        ]
    helpers = [
        "def _dump(",
        f"{_INDENT}model: type[BaseModel],",
        f"{_INDENT}required: dict[str, Any],",
        f"{_INDENT}optional: dict[str, Any],",
        ") -> dict[str, Any]:",
        f'{_INDENT}"""Validate the arguments given (optional ones: when not None) with ``model``;',
        f'{_INDENT}return them as the JSON values the message carries."""',
        f"{_INDENT}given = {{**required, **{{k: v for k, v in optional.items() if v is not None}}}}",
        f"{_INDENT}values = model.model_validate(given)",
        f'{_INDENT}return values.model_dump(mode="json", by_alias=True, exclude_unset=True)',
    ]
    blocks = ["\n".join(exports)]
    if module.needs_unique:
        blocks.append(
            "\n".join(
                [
                    "def _unique(items: list[Any]) -> list[Any]:",
                    f'{_INDENT}"""Refuse a list with the same item twice."""',
                    f"{_INDENT}for index, item in enumerate(items):",
                    f"{_INDENT * 2}if item in items[:index]:",
                    f'{_INDENT * 3}raise ValueError("items must be unique")',
                    f"{_INDENT}return items",
                ]
            )
        )
    if aliases:
        blocks.append("\n".join(aliases))
    blocks += [*module.classes, "\n".join(helpers), *functions]
    return "\n".join(header) + "\n\n" + "\n".join(imports) + "\n\n" + "\n\n\n".join(blocks) + "\n"


def _names(names: set[str]) -> str:
    """Imported names in isort's order: CONSTANTS, then Classes, then functions."""

    def key(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() and len(name) > 1 else 1 if name[0].isupper() else 2
        return kind, name

    return ", ".join(sorted(names, key=key))


def _clean_line(line: str) -> str:
    return line.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').rstrip()
