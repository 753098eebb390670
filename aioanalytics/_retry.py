"""Retry policy, sans-I/O: classify one HTTP outcome and compute the backoff.

Classification (the incumbent's, ``segment/analytics/consumer.py``, plus splitting):

==========================================  =================================================
outcome                                     decision
==========================================  =================================================
2xx                                         ``ACCEPT``
network error, timeout, 408, 429, 5xx       ``RETRY`` (429 and 503 honour ``Retry-After``)
413, or 400 for a batch of several          ``SPLIT`` into halves and send each
any other 4xx (401, 403, 404, 400 for one)  ``REJECT``: never retried
==========================================  =================================================

Backoff before retry ``n`` (``n`` = 1, 2, ...) is "full jitter"::

    delay = random() * min(backoff_max, backoff_initial * 2 ** (n - 1))

unless the server said how long to wait (``Retry-After`` or ``X-RateLimit-Reset`` seconds),
in which case exactly that wait is used, capped at ``max_server_wait`` (5 minutes).

The budget is time: a batch is retried until ``max_retry_duration`` seconds (12 hours, as
analytics-python's newer releases) have passed since its first attempt, and no wait runs past
that moment. ``max_retries`` adds a cap by count (none by default).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from ._exceptions import ConfigError

__all__ = ["DEFAULT_MAX_RETRY_DURATION", "Decision", "RetryPolicy", "retry_after"]

#: How long a batch is retried by default: 12 hours (analytics-python's cap on the total
#: backoff). Segment keeps what arrives late: ``timestamp`` says when it happened.
DEFAULT_MAX_RETRY_DURATION = 12 * 3600.0


class Decision(enum.Enum):
    """What to do with a batch after one HTTP attempt."""

    ACCEPT = "accept"
    RETRY = "retry"
    SPLIT = "split"
    REJECT = "reject"


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait in seconds, from ``Retry-After`` or ``X-RateLimit-Reset``."""
    for name in ("retry-after", "x-ratelimit-reset"):
        value = headers.get(name)
        if value is not None:
            try:
                seconds = float(value)
            except ValueError:
                continue
            if seconds >= 0:
                return seconds
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry.

    >>> policy = RetryPolicy(max_retries=3, backoff_initial=0.5, backoff_max=4.0)
    >>> policy.decide(503, batch_size=10)
    <Decision.RETRY: 'retry'>
    >>> policy.backoff(3, random=1.0)
    2.0
    >>> policy.may_retry(2, elapsed=60.0), policy.may_retry(3, elapsed=60.0)
    (True, False)
    """

    #: Retries per batch at most; ``None``: no cap by count (the time budget still applies).
    max_retries: int | None = None
    backoff_initial: float = 0.5
    backoff_max: float = 60.0
    max_server_wait: float = 300.0
    #: Seconds after a batch's first attempt past which it is not retried again.
    max_retry_duration: float = DEFAULT_MAX_RETRY_DURATION

    def __post_init__(self) -> None:
        if self.max_retries is not None and self.max_retries < 0:
            raise ConfigError(f"max_retries must not be negative, got {self.max_retries}")
        if self.max_retry_duration < 0:
            raise ConfigError(
                f"max_retry_duration must not be negative, got {self.max_retry_duration}"
            )
        if self.backoff_initial < 0 or self.backoff_max < self.backoff_initial:
            raise ConfigError("backoff needs 0 <= backoff_initial <= backoff_max")

    def decide(self, status: int | None, *, batch_size: int) -> Decision:
        """Classify one attempt: ``status`` is ``None`` for a network error or timeout."""
        if status is None or status == 408 or status == 429 or status >= 500:
            return Decision.RETRY
        if 200 <= status < 300:
            return Decision.ACCEPT
        if batch_size > 1 and (status == 413 or status == 400):
            return Decision.SPLIT
        return Decision.REJECT

    def may_retry(self, retries_done: int, *, elapsed: float = 0.0) -> bool:
        """Whether another retry is allowed after ``retries_done`` retries, ``elapsed``
        seconds after the batch's first attempt."""
        if self.max_retries is not None and retries_done >= self.max_retries:
            return False
        return elapsed < self.max_retry_duration

    def backoff(self, retry: int, *, random: float, server_wait: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``random`` is in [0, 1)."""
        if server_wait is not None:
            return min(server_wait, self.max_server_wait)
        return random * min(self.backoff_max, self.backoff_initial * 2.0 ** (retry - 1))
