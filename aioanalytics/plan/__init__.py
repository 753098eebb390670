"""Tracking plans: typed events generated from a plan, and messages checked against it.

A tracking plan says which events exist and what their properties (and the identify and
group traits) look like, as JSON Schema. This package reads one (Segment's export or a small
format of our own, JSON or YAML) and:

- writes a module of pydantic models and typed functions for it (:func:`generate_module`,
  ``aioanalytics plan generate``), so that a typo in an event name or a wrong property type
  is a type-checker error in your code;
- checks messages against it: at the call (``Analytics(tracking_plan=plan,
  on_violation=...)``), in a file of recorded messages (:func:`check_messages`,
  ``aioanalytics plan check``) and in the local collector (``aioanalytics serve --plan``).

See the tracking plans guide for the formats and a worked example.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from ._check import CheckReport, check_messages
from ._codegen import generate_module
from ._guard import OnViolation
from ._plan import (
    PlanError,
    PlanViolationError,
    Rule,
    TrackingPlan,
    Violation,
    load_plan,
    parse_plan,
)
from ._schema import Unsupported

__all__ = [
    "CheckReport",
    "OnViolation",
    "PlanError",
    "PlanViolationError",
    "Rule",
    "TrackingPlan",
    "Unsupported",
    "Violation",
    "check_messages",
    "generate_module",
    "load_plan",
    "parse_plan",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("aioanalytics.plan."):
        try:
            _obj.__module__ = "aioanalytics.plan"
        except (AttributeError, TypeError):  # pragma: no cover - type aliases
            pass
del _name, _obj
