"""The tracking plan at the call: what ``Analytics(tracking_plan=..., on_violation=...)`` does.

Theory of operation: the client asks :meth:`PlanGuard.admit` about each wire message before
it is encoded. A message that keeps to the plan costs one strict pydantic validation. One
that breaks it is counted (``stats.plan_violations``), logged with each field at fault, and
then, as ``on_violation`` says: raised (:class:`PlanViolationError`, counted as
``rejected``), dropped (its Delivery resolves as dropped, counted as ``dropped``), or sent
anyway (``"warn"``). The client never imports this module unless a plan is given.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from .._exceptions import ConfigError
from ._plan import PlanViolationError, TrackingPlan, load_plan

if TYPE_CHECKING:
    from .._delivery import Stats

__all__ = ["OnViolation", "PlanGuard"]

logger = logging.getLogger("aioanalytics")

OnViolation: TypeAlias = Literal["raise", "warn", "drop"]


class PlanGuard:
    """Checks messages against a plan for one client, and counts what breaks it."""

    __slots__ = ("_check", "on_violation", "plan", "stats")

    def __init__(
        self,
        plan: TrackingPlan | str | os.PathLike[str],
        on_violation: OnViolation,
        stats: Stats,
    ) -> None:
        if on_violation not in ("raise", "warn", "drop"):
            raise ConfigError(
                f"on_violation must be 'raise', 'warn' or 'drop', got {on_violation!r}"
            )
        if not isinstance(plan, TrackingPlan):
            if not isinstance(plan, str | os.PathLike):
                raise ConfigError(
                    "tracking_plan must be a TrackingPlan or the path of a plan file, got "
                    f"{type(plan).__name__}"
                )
            plan = load_plan(plan)
        self.plan = plan
        self.on_violation = on_violation
        self.stats = stats
        self._check = plan.check

    def admit(self, wire: Mapping[str, Any]) -> bool:
        """Whether to send ``wire``; raise :class:`PlanViolationError` if it must not be sent
        and the caller should hear of it."""
        violations = self._check(wire)
        if not violations:
            return True
        self.stats.plan_violations += 1
        first = violations[0]
        what = f"track {first.event!r}" if wire.get("type") == "track" else str(wire.get("type"))
        outcome = {"raise": "refused", "drop": "dropped", "warn": "sent anyway"}[self.on_violation]
        logger.warning(
            "%s (messageId %s) breaks the tracking plan, %s: %s",
            what,
            wire.get("messageId"),
            outcome,
            "; ".join(str(v) for v in violations),
        )
        if self.on_violation == "raise":
            self.stats.rejected += 1
            raise PlanViolationError(violations, str(wire.get("type")))
        if self.on_violation == "drop":
            self.stats.dropped += 1
            return False
        return True
