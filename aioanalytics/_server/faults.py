"""Fault injection for the collector: decide, per request, whether to misbehave.

Theory of operation: ``Faults`` is the frozen configuration (the ``--fail-rate``,
``--fail-status``, ``--retry-after``, ``--drop-rate`` and ``--latency`` flags) and
:meth:`Faults.decide` turns one random draw into a :class:`Fault`. This module never
sleeps and never touches a socket: the web app applies the decision *before* it stores
anything, so a request that was failed or dropped leaves the store as it was and the
SDK's retry is what gets the messages in.

The statuses on offer are the ones Segment's clients retry (Segment HTTP API docs, "Errors"):
500 and 503 as server errors, and 429 with a ``Retry-After`` header.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

__all__ = ["FAIL_STATUSES", "Fault", "FaultKind", "Faults"]

FAIL_STATUSES = (500, 503, 429)
"""The status codes ``--fail-status`` accepts."""


class FaultKind(Enum):
    """What to do with one request."""

    NONE = "none"
    """Answer it normally."""
    FAIL = "fail"
    """Answer with the configured error status and store nothing."""
    DROP = "drop"
    """Close the connection without an answer and store nothing."""


@dataclass(frozen=True, slots=True)
class Fault:
    """The decision for one request: what to do, and after how long."""

    kind: FaultKind
    latency: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """How often and how the collector misbehaves on ``/v1/*`` requests.

    Usage::

        faults = Faults(fail_rate=0.2, fail_status=429, retry_after=1.0, drop_rate=0.05)
        fault = faults.decide(random.Random(7))
        fault.kind                   # FaultKind.NONE, FAIL or DROP

    All times are in seconds.

    Args:
        fail_rate: The fraction of requests (0 to 1) answered with ``fail_status``.
        fail_status: 500, 503 or 429.
        retry_after: The ``Retry-After`` header sent with a 429, in seconds.
        drop_rate: The fraction of requests (0 to 1) whose connection is closed unanswered.
        latency: Seconds added before every ``/v1/*`` request is answered.

    Raises:
        ValueError: A rate outside 0..1, rates adding up to more than 1, an unsupported
            status, or a negative time.
    """

    fail_rate: float = 0.0
    fail_status: int = 503
    retry_after: float = 1.0
    drop_rate: float = 0.0
    latency: float = 0.0

    def __post_init__(self) -> None:
        for name in ("fail_rate", "drop_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate!r}")
        if self.fail_rate + self.drop_rate > 1.0:
            raise ValueError(
                f"fail_rate + drop_rate must be at most 1, got {self.fail_rate + self.drop_rate!r}"
            )
        if self.fail_status not in FAIL_STATUSES:
            raise ValueError(f"fail_status must be one of {FAIL_STATUSES}, got {self.fail_status}")
        for name in ("retry_after", "latency"):
            seconds = getattr(self, name)
            if seconds < 0:
                raise ValueError(f"{name} must not be negative, got {seconds!r}")

    @property
    def enabled(self) -> bool:
        """Whether any fault or latency is configured."""
        return bool(self.fail_rate or self.drop_rate or self.latency)

    def decide(self, rng: random.Random) -> Fault:
        """Draw once from ``rng`` and return what to do with the next request."""
        draw = rng.random()
        if draw < self.drop_rate:
            kind = FaultKind.DROP
        elif draw < self.drop_rate + self.fail_rate:
            kind = FaultKind.FAIL
        else:
            kind = FaultKind.NONE
        return Fault(kind, self.latency)

    def retry_after_header(self) -> str:
        """Return the ``Retry-After`` value: whole seconds when possible (RFC 9110 §10.2.3)."""
        seconds = self.retry_after
        return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"
