"""Tracking plans: reading them, and checking wire messages against them.

Theory of operation: :func:`load_plan` reads a file (JSON, or YAML with PyYAML installed)
in one of three shapes, turns every rule into a :data:`~._schema.Spec` per part of the
message (``properties``, ``traits``, ``context``) and returns a :class:`TrackingPlan`.
The plan compiles each rule once into a strict pydantic model of the whole message
(:mod:`._runtime`) and checks a wire dict with it: no coercion, so ``"39.95"`` is not a
number and ``1`` is not a string. The shapes:

1. Segment's Config API export: ``{"rules": {"events": [{"name", "version", "rules":
   <schema of the message>}], "identify_traits": <schema>, "group_traits": <schema>,
   "global": <schema>}}``, optionally inside ``{"tracking_plan": ...}``.
2. Segment's Public API rules: ``{"rules": [{"type": "TRACK" | "IDENTIFY" | "GROUP" |
   "COMMON", "key", "version", "jsonSchema": <schema of the message>}]}``, optionally
   inside ``{"data": ...}``.
3. Our own, small format: ``{"events": {name: {"description", "properties": {name:
   <schema, with "required": true allowed>}}}, "identify": {"traits": {...}}, "group":
   {"traits": {...}}}``.

A *schema of the message* has ``properties.properties``, ``properties.traits`` and
``properties.context`` (each a JSON Schema), and ``required`` naming which must be there.
Of several versions of one event, the highest is kept.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import ValidationError

from .._exceptions import AnalyticsError
from ._schema import AnyValue, Extra, Spec, Unsupported, class_name, convert

__all__ = [
    "PlanError",
    "PlanViolationError",
    "Rule",
    "TrackingPlan",
    "Violation",
    "load_plan",
]

RuleKind: TypeAlias = Literal["track", "identify", "group", "common"]

#: The parts of a message a rule may describe, and whether unknown keys are allowed in each
#: when the plan does not say: properties and traits are what a plan is about; context is
#: filled in by libraries (``library``, ``ip``, ``userAgent``...).
PARTS: dict[str, Extra] = {"properties": "forbid", "traits": "forbid", "context": "allow"}
_PART_NAMES = {"properties": "", "traits": "Traits", "context": "Context"}
_MAX_INPUT = 60


class PlanError(AnalyticsError, ValueError):
    """A tracking plan cannot be read: not found, not JSON or YAML, or of an unknown shape."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One way a message breaks its tracking plan.

    Attributes:
        event: The event name for a track, else the message type (``"identify"``).
        path: The field at fault in wire terms, e.g. ``"properties.products[0].price"``;
            ``"event"`` for an event the plan does not have.
        reason: What is wrong, e.g. ``"Input should be a valid number"``.
        kind: A stable code: pydantic's error type (``"float_type"``, ``"missing"``,
            ``"extra_forbidden"``...) or ``"unplanned_event"``.
        value: A short repr of the value at fault, if there is one.
    """

    event: str
    path: str
    reason: str
    kind: str
    value: str | None = None

    def __str__(self) -> str:
        got = f" (got {self.value})" if self.value is not None else ""
        return f"{self.path}: {self.reason}{got}"


class PlanViolationError(AnalyticsError, ValueError):
    """A message breaks the tracking plan and ``on_violation="raise"`` was chosen.

    Attributes:
        violations: Every violation found in the message.
    """

    def __init__(self, violations: list[Violation], message_type: str = "track") -> None:
        first = violations[0]
        label = f"track {first.event!r}" if message_type == "track" else message_type
        details = "; ".join(str(v) for v in violations)
        super().__init__(f"{label} breaks the tracking plan: {details}")
        self.violations = violations


@dataclass(frozen=True, slots=True)
class Rule:
    """The plan for one kind of message: a track event, identify, group, or all messages.

    Attributes:
        kind: ``"track"``, ``"identify"``, ``"group"`` or ``"common"`` (every message).
        name: The event name for a track rule, else the kind.
        version: The rule's version (1 when the plan has none).
        description: What the plan says about it.
        parts: A spec per part of the message: ``properties``, ``traits``, ``context``.
        required: The parts that must be present.
    """

    kind: RuleKind
    name: str
    version: int
    description: str | None
    parts: Mapping[str, Spec]
    required: frozenset[str]


class TrackingPlan:
    """A tracking plan: which events exist, and what their properties and traits look like.

    Usage::

        plan = load_plan("tracking-plan.yaml")
        for violation in plan.check({"type": "track", "event": "Order Completed",
                                     "properties": {"revenue": "39.95"}}):
            print(violation)     # properties.revenue: Input should be a valid number ...

    ``plan.unsupported`` lists what in the plan's schemas is not checked (a keyword such as
    ``oneOf``, a format such as ``hostname``), with where it is.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        name: str | None = None,
        unsupported: Iterable[Unsupported] = (),
    ) -> None:
        self.name = name
        self.events: dict[str, Rule] = {}
        self.identify: Rule | None = None
        self.group: Rule | None = None
        self.common: Rule | None = None
        for rule in rules:
            if rule.kind == "track":
                known = self.events.get(rule.name)
                if known is None or rule.version > known.version:
                    self.events[rule.name] = rule
            elif rule.kind == "identify":
                self.identify = rule
            elif rule.kind == "group":
                self.group = rule
            else:
                self.common = rule
        self.unsupported = tuple(unsupported)
        from ._runtime import compile_rule

        self._checks = {
            (rule.kind, rule.name): compile_rule(rule)
            for rule in (*self.events.values(), self.identify, self.group, self.common)
            if rule is not None
        }

    def __repr__(self) -> str:
        parts = [repr(self.name)] if self.name else []
        parts.append(f"{len(self.events)} events")
        parts += [kind for kind in _KINDS if getattr(self, kind) is not None]
        return f"<TrackingPlan {', '.join(parts)}>"

    def covers(self, message_type: str) -> bool:
        """Whether messages of this type are checked (a track always is)."""
        if self.common is not None or message_type == "track":
            return True
        return message_type in _KINDS and getattr(self, message_type) is not None

    def check(self, message: Mapping[str, Any]) -> list[Violation]:
        """Check one wire message (camelCase, as sent); return its violations (none: ``[]``).

        Messages of a type the plan has no rule for (page, screen, alias, and identify or
        group when the plan has no traits for them) pass.
        """
        kind = message.get("type")
        event = message.get("event")
        label = str(event) if kind == "track" else str(kind)
        violations: list[Violation] = []
        if self.common is not None:
            violations += self._checks["common", "common"](label, message)
        if kind == "track":
            rule = self.events.get(event) if isinstance(event, str) else None
            if rule is None:
                violations.append(self._unplanned(label))
                return violations
            violations += self._checks["track", rule.name](label, message)
        elif kind in _KINDS and getattr(self, kind) is not None:
            violations += self._checks[kind, kind](kind, message)
        return violations

    def _unplanned(self, event: str) -> Violation:
        close = difflib.get_close_matches(event, list(self.events), n=1, cutoff=0.75)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        return Violation(event, "event", f"not in the tracking plan{hint}", "unplanned_event")


_KINDS = ("identify", "group")


# -- reading ------------------------------------------------------------------------------


def load_plan(source: str | os.PathLike[str] | Mapping[str, Any]) -> TrackingPlan:
    """Read a tracking plan from a JSON or YAML file, or from its parsed contents.

    YAML needs PyYAML (``pip install 'aioanalytics[plan]'``), imported only for a ``.yaml``
    or ``.yml`` file. The shapes accepted are described in the tracking plans guide.

    Raises:
        PlanError: the file cannot be read, parsed, or is of no known shape.
    """
    if isinstance(source, Mapping):
        return parse_plan(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"cannot read the tracking plan {str(path)!r}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise PlanError(f"the tracking plan {str(path)!r} is not UTF-8 text") from exc
    if path.suffix.lower() in (".yaml", ".yml"):
        data = _parse_yaml(text, path)
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PlanError(f"the tracking plan {str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise PlanError(f"the tracking plan {str(path)!r} must hold an object at the top")
    plan = parse_plan(data)
    if plan.name is None:
        plan.name = path.stem
    return plan


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise PlanError(
            f"reading the YAML tracking plan {str(path)!r} needs PyYAML; install it with: "
            "pip install 'aioanalytics[plan]'"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"the tracking plan {str(path)!r} is not valid YAML: {exc}") from exc


def parse_plan(data: Mapping[str, Any]) -> TrackingPlan:
    """Build a :class:`TrackingPlan` from a plan's parsed contents (any of the three shapes).

    Raises:
        PlanError: the contents are of no known shape.
    """
    builder = _Builder()
    for wrapper in ("tracking_plan", "trackingPlan", "data"):
        inner = data.get(wrapper)
        if isinstance(inner, Mapping) and ("rules" in inner or "events" in inner):
            data = inner
    name = data.get("display_name") or data.get("name")
    rules = data.get("rules")
    if isinstance(rules, Mapping):
        builder.config_api(rules)
    elif isinstance(rules, list):
        builder.public_api(rules)
    elif isinstance(data.get("events"), Mapping):
        builder.own(data)
    else:
        raise PlanError(
            "not a tracking plan: expected Segment's export ({'rules': {'events': [...]}} or "
            "{'rules': [...]}) or aioanalytics' own format ({'events': {...}})"
        )
    return TrackingPlan(
        builder.rules, name=name if isinstance(name, str) else None, unsupported=builder.issues
    )


@dataclass(slots=True)
class _Builder:
    rules: list[Rule] = field(default_factory=list)
    issues: list[Unsupported] = field(default_factory=list)

    # Segment's Config API: {"events": [...], "identify_traits": {...}, "group_traits": {...}}
    def config_api(self, rules: Mapping[str, Any]) -> None:
        events = rules.get("events", [])
        if not isinstance(events, list):
            raise PlanError("rules.events must be a list of events")
        for index, entry in enumerate(events):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                raise PlanError(f"rules.events[{index}] must be an object with a name")
            self.message_rule(
                "track",
                entry["name"],
                entry.get("rules", {}),
                version=entry.get("version"),
                description=entry.get("description"),
            )
        sections: tuple[tuple[str, RuleKind], ...] = (
            ("identify_traits", "identify"),
            ("group_traits", "group"),
        )
        for key, kind in sections:
            schema = rules.get(key)
            if schema:
                self.message_rule(kind, kind, _as_message_schema(schema))
        if rules.get("global"):
            self.message_rule("common", "common", rules["global"])
        for key in rules:
            if key not in ("events", "identify_traits", "group_traits", "global"):
                self.issues.append(Unsupported("rules", key, "is not a known section: not checked"))

    # Segment's Public API: [{"type": "TRACK", "key": ..., "version": ..., "jsonSchema": ...}]
    def public_api(self, rules: list[Any]) -> None:
        kinds: dict[str, RuleKind] = {
            "TRACK": "track",
            "IDENTIFY": "identify",
            "GROUP": "group",
            "COMMON": "common",
        }
        for index, entry in enumerate(rules):
            if not isinstance(entry, Mapping) or entry.get("type") not in kinds:
                raise PlanError(
                    f"rules[{index}] must be an object whose type is one of {', '.join(kinds)}"
                )
            kind: RuleKind = kinds[entry["type"]]
            if kind == "track" and not isinstance(entry.get("key"), str):
                raise PlanError(f"rules[{index}]: a TRACK rule needs a key (the event name)")
            name = entry["key"] if kind == "track" else kind
            schema = entry.get("jsonSchema", {})
            self.message_rule(
                kind,
                name,
                schema,
                version=entry.get("version"),
                description=schema.get("description") if isinstance(schema, Mapping) else None,
            )

    # Our own: {"events": {name: {"description", "properties": {...}}}, "identify": {...}}
    def own(self, data: Mapping[str, Any]) -> None:
        for key in data:
            if key not in ("name", "events", "identify", "group"):
                raise PlanError(f"unknown key {key!r} at the top of the tracking plan")
        for event, entry in data["events"].items():
            where = f"events.{event}"
            entry = entry if entry is not None else {}
            _known_keys(entry, where, ("description", "properties", "additionalProperties"))
            self.message_rule(
                "track",
                str(event),
                _own_message(entry, where, "properties"),
                description=entry.get("description"),
            )
        for kind in ("identify", "group"):
            entry = data.get(kind)
            if entry is not None:
                _known_keys(entry, kind, ("description", "traits", "additionalProperties"))
                self.message_rule(
                    kind,
                    kind,
                    _own_message(entry, kind, "traits"),
                    description=entry.get("description"),
                )

    def message_rule(
        self,
        kind: RuleKind,
        name: str,
        schema: Any,
        *,
        version: Any = None,
        description: Any = None,
    ) -> None:
        label = name if kind == "track" else kind
        if not isinstance(schema, Mapping):
            raise PlanError(f"{label}: the rules must be a JSON Schema object")
        base = {"track": class_name(name), "identify": "Identify", "group": "Group"}.get(
            kind, "Common"
        )
        properties = schema.get("properties", {})
        if not isinstance(properties, Mapping):
            raise PlanError(f"{label}: 'properties' must be an object")
        parts: dict[str, Spec] = {}
        for part, sub in properties.items():
            extra = PARTS.get(part, "allow")
            suffix = _PART_NAMES.get(part, class_name(part))
            if kind != "track" and part == "properties":
                suffix = "Properties"
            spec, issues = convert(
                sub, path=f"{label}.{part}", name=base + suffix, default_extra=extra
            )
            if part not in PARTS and not isinstance(spec, AnyValue):
                reason = "is not a part of the message a plan checks: not checked"
                self.issues.append(Unsupported(f"{label}.properties", part, reason))
                continue
            parts[part] = spec
            self.issues.extend(issues)
        required = schema.get("required", [])
        if not isinstance(required, list):
            raise PlanError(f"{label}: 'required' must be a list")
        for key in schema:
            if key not in ("$schema", "type", "properties", "required", "description", "title"):
                self.issues.append(Unsupported(label, key, "is not supported: not checked"))
        self.rules.append(
            Rule(
                kind,
                name,
                version if isinstance(version, int) and not isinstance(version, bool) else 1,
                description if isinstance(description, str) else None,
                parts,
                frozenset(r for r in required if r in PARTS),
            )
        )


def _as_message_schema(schema: Any) -> Any:
    """``identify_traits`` may be the schema of the message (``properties.traits``) or the
    schema of the traits themselves; read the second as the first."""
    if not isinstance(schema, Mapping):
        return schema
    properties = schema.get("properties")
    if (
        isinstance(properties, Mapping)
        and properties
        and set(properties) <= set(PARTS)
        and all(isinstance(v, Mapping) and v.get("type") == "object" for v in properties.values())
    ):
        return schema
    return {"type": "object", "properties": {"traits": schema}}


def _known_keys(entry: Any, where: str, keys: tuple[str, ...]) -> None:
    if not isinstance(entry, Mapping):
        raise PlanError(f"{where}: must be an object")
    for key in entry:
        if key not in keys:
            raise PlanError(f"{where}: unknown key {key!r} (expected one of {', '.join(keys)})")


def _own_message(entry: Mapping[str, Any], where: str, part: str) -> dict[str, Any]:
    """Our format's event or traits entry as the schema of the message."""
    schema = _own_object(entry.get(part) or {}, f"{where}.{part}")
    if "additionalProperties" in entry:
        schema["additionalProperties"] = entry["additionalProperties"]
    if "description" in entry:
        schema["description"] = entry["description"]
    return {
        "type": "object",
        "properties": {part: schema},
        "required": [part] if schema.get("required") else [],
    }


def _own_object(properties: Any, where: str) -> dict[str, Any]:
    """A properties map whose entries may say ``required: true``, as a JSON Schema object."""
    if not isinstance(properties, Mapping):
        raise PlanError(f"{where}: must map property names to their schemas")
    out: dict[str, Any] = {}
    required: list[str] = []
    for name, schema in properties.items():
        schema = dict(schema) if isinstance(schema, Mapping) else schema
        if isinstance(schema, dict):
            flag = schema.pop("required") if isinstance(schema.get("required"), bool) else False
            if flag:
                required.append(str(name))
            schema = _own_nested(schema, f"{where}.{name}")
        elif schema is None:
            schema = {}
        out[str(name)] = schema
    result: dict[str, Any] = {"type": "object", "properties": out}
    if required:
        result["required"] = required
    return result


def _own_nested(schema: dict[str, Any], where: str) -> dict[str, Any]:
    if isinstance(schema.get("properties"), Mapping):
        nested = _own_object(schema["properties"], f"{where}.properties")
        schema["properties"] = nested["properties"]
        if "required" in nested and not isinstance(schema.get("required"), list):
            schema["required"] = nested["required"]
    items = schema.get("items")
    if isinstance(items, Mapping):
        schema["items"] = _own_nested(dict(items), f"{where}.items")
    return schema


def describe_errors(
    label: str, exc: ValidationError, message: Mapping[str, Any]
) -> list[Violation]:
    """Violations from what a compiled rule's model raised while checking ``message``."""
    out = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False):
        path = format_path(error["loc"], message)
        if path in seen:
            continue  # one line per field: a union reports each of its branches
        seen.add(path)
        value = None
        if error["type"] != "missing" and "input" in error:
            value = _short(error["input"])
        reason = str(error["msg"]).removeprefix("Value error, ")
        out.append(Violation(label, path, reason, error["type"], value))
    return out


def format_path(loc: Iterable[int | str], data: Any) -> str:
    """An error location in wire terms: ``properties.products[0].price``.

    pydantic puts the branch of a union or of a constrained type in the location too
    (``str``, ``function-after[...]``); walking the message tells those from its keys. A
    last part missing from the message is the name of a missing field.
    """
    parts = list(loc)
    text = ""
    node = data
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            text += f"[{part}]"
            node = node[part]
        elif isinstance(node, Mapping) and (part in node or last):
            text += f".{part}" if text else str(part)
            node = node.get(part)
        # else: a branch tag, not a key
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_INPUT else text[: _MAX_INPUT - 3] + "..."
