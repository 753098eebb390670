from __future__ import annotations

import pytest

from aioanalytics import ConfigError, Decision, RetryPolicy
from aioanalytics._retry import retry_after

policy = RetryPolicy(max_retries=3, backoff_initial=0.5, backoff_max=4.0, max_server_wait=10)


@pytest.mark.parametrize(
    ("status", "size", "decision"),
    [
        (200, 5, Decision.ACCEPT),
        (204, 5, Decision.ACCEPT),
        (None, 5, Decision.RETRY),
        (408, 5, Decision.RETRY),
        (429, 5, Decision.RETRY),
        (500, 5, Decision.RETRY),
        (503, 1, Decision.RETRY),
        (413, 5, Decision.SPLIT),
        (400, 2, Decision.SPLIT),
        (413, 1, Decision.REJECT),
        (400, 1, Decision.REJECT),
        (401, 5, Decision.REJECT),
        (403, 5, Decision.REJECT),
        (404, 5, Decision.REJECT),
        (302, 5, Decision.REJECT),
    ],
)
def test_classification(status: int | None, size: int, decision: Decision) -> None:
    assert policy.decide(status, batch_size=size) is decision


def test_backoff_is_capped_full_jitter() -> None:
    assert policy.backoff(1, random=1.0) == 0.5
    assert policy.backoff(2, random=1.0) == 1.0
    assert policy.backoff(3, random=0.5) == 1.0
    assert policy.backoff(10, random=1.0) == 4.0
    assert policy.backoff(10, random=0.0) == 0.0


def test_server_wait_wins_but_is_capped() -> None:
    assert policy.backoff(1, random=0.0, server_wait=2.0) == 2.0
    assert policy.backoff(1, random=0.0, server_wait=3600) == 10.0


def test_retry_budget() -> None:
    assert policy.may_retry(2)
    assert not policy.may_retry(3)


def test_retry_budget_by_time() -> None:
    timed = RetryPolicy(max_retry_duration=60.0)
    assert timed.max_retries is None
    assert timed.may_retry(10_000, elapsed=59.9)
    assert not timed.may_retry(0, elapsed=60.0)
    assert not policy.may_retry(0, elapsed=policy.max_retry_duration)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"x-ratelimit-reset": "7"}, 7.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT", "x-ratelimit-reset": "2"}, 2.0),
        ({"retry-after": "-1"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"backoff_initial": -1},
        {"backoff_initial": 2, "backoff_max": 1},
        {"max_retry_duration": -1},
    ],
)
def test_invalid_policy(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
