"""Checking recorded messages against a plan, and counting what breaks it.

Theory of operation: :func:`check_messages` reads wire messages (dicts, or JSON Lines text:
one message per line, as the local collector's export writes them, or one ``{"batch":
[...]}`` request body per line) and adds each violation to a :class:`CheckReport`, grouped
by event, field and reason. List indices are folded (``products[3].price`` counts as
``products[].price``), so a report stays one line per property however long the lists.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._plan import TrackingPlan

__all__ = ["CheckReport", "check_messages"]

_INDEX = re.compile(r"\[\d+\]")


@dataclass(slots=True)
class CheckReport:
    """What :func:`check_messages` found.

    Attributes:
        messages: Messages read.
        checked: Those the plan has rules for (the rest are counted in ``unchecked``).
        violating: Checked messages with at least one violation.
        unchecked: Messages the plan has no rules for, by type (page, screen, alias...).
        unreadable: ``(line number, reason)`` for each line that is not a message.
        violations: Count per ``(event, field, reason)``.
        examples: A value seen, per ``(event, field, reason)``, when there is one.
        by_event: Violating messages per event.
    """

    messages: int = 0
    checked: int = 0
    violating: int = 0
    unchecked: Counter[str] = field(default_factory=Counter)
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    violations: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str, str], str] = field(default_factory=dict)
    by_event: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """Whether every checked message keeps to the plan and every line was a message."""
        return not self.violating and not self.unreadable

    def rows(self) -> list[tuple[str, str, str, int]]:
        """``(event, field, reason, count)``, most frequent first."""
        return [
            (event, path, reason, count)
            for (event, path, reason), count in sorted(
                self.violations.items(), key=lambda item: (-item[1], item[0])
            )
        ]

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON data."""
        return {
            "messages": self.messages,
            "checked": self.checked,
            "violating": self.violating,
            "unchecked": dict(self.unchecked),
            "unreadable": [{"line": n, "reason": r} for n, r in self.unreadable],
            "violations": [
                {
                    "event": event,
                    "field": path,
                    "reason": reason,
                    "count": count,
                    "example": self.examples.get((event, path, reason)),
                }
                for event, path, reason, count in self.rows()
            ],
        }

    def add(self, plan: TrackingPlan, message: Mapping[str, Any]) -> None:
        """Check one wire message and count the outcome."""
        self.messages += 1
        kind = str(message.get("type"))
        if not plan.covers(kind):
            self.unchecked[kind] += 1
            return
        self.checked += 1
        found = plan.check(message)
        if not found:
            return
        self.violating += 1
        self.by_event[found[0].event] += 1
        for violation in found:
            key = (violation.event, _INDEX.sub("[]", violation.path), violation.reason)
            self.violations[key] += 1
            if violation.value is not None:
                self.examples.setdefault(key, violation.value)


def check_messages(
    plan: TrackingPlan, messages: Iterable[Mapping[str, Any] | str | bytes]
) -> CheckReport:
    """Check wire messages, or lines of JSON, against ``plan``.

    Usage::

        with open("events.jsonl") as lines:
            report = check_messages(load_plan("plan.yaml"), lines)
        for event, field, reason, count in report.rows():
            print(f"{count:>6}  {event}  {field}: {reason}")

    A line may hold one message or a ``{"batch": [...]}`` request body; blank lines are
    skipped; any other line is counted in ``report.unreadable``.
    """
    report = CheckReport()
    for number, item in enumerate(messages, start=1):
        if isinstance(item, Mapping):
            _add(report, plan, item, number)
            continue
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            report.unreadable.append((number, f"not JSON: {exc}"))
            continue
        if isinstance(data, Mapping) and isinstance(data.get("batch"), list):
            for entry in data["batch"]:
                _add(report, plan, entry, number)
        else:
            _add(report, plan, data, number)
    return report


def _add(report: CheckReport, plan: TrackingPlan, data: Any, number: int) -> None:
    if not isinstance(data, Mapping) or not isinstance(data.get("type"), str):
        report.unreadable.append((number, "not a message (a JSON object with a type)"))
        return
    report.add(plan, data)
