"""The batching core, driven with numbers for time: no event loop, no sleeps."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioanalytics import Batcher, BatchLimits, ConfigError
from aioanalytics._batching import split


def make(max_items: int = 3, max_bytes: int = 100, interval: float = 1.0) -> Batcher[str]:
    limits = BatchLimits(
        max_items=max_items,
        max_bytes=max_bytes,
        interval=interval,
        max_message_bytes=min(50, max_bytes),
    )
    return Batcher(limits, envelope_bytes=10)


def test_closes_by_count() -> None:
    b = make(max_items=2)
    assert list(b.add("a", 5, now=0)) == []
    assert b.add("b", 5, now=0) == [["a", "b"]]
    assert len(b) == 0 and b.deadline is None


def test_closes_before_the_byte_limit_counting_envelope_and_separators() -> None:
    b = make(max_items=10, max_bytes=40)  # envelope 10
    assert list(b.add("a", 14, now=0)) == []  # 24
    assert list(b.add("b", 14, now=0)) == []  # 24 + 1 + 14 = 39
    assert b.add("c", 1, now=0) == [["a", "b"]]  # 39 + 1 + 1 = 41 > 40
    assert b.drain() == [["c"]]


def test_exactly_at_the_limit_fits() -> None:
    b = make(max_items=10, max_bytes=40)
    b.add("a", 14, now=0)
    assert list(b.add("b", 15, now=0)) == []  # 10 + 14 + 1 + 15 = 40


def test_timer_deadline_and_poll() -> None:
    b = make(interval=0.5)
    assert b.deadline is None
    b.add("a", 1, now=10.0)
    b.add("b", 1, now=10.3)
    assert b.deadline == 10.5
    assert b.poll(now=10.4) == []
    assert b.poll(now=10.5) == [["a", "b"]]
    assert b.deadline is None and b.poll(now=11) == []


def test_fits() -> None:
    b = make(max_bytes=60)
    assert b.fits(50)
    assert not b.fits(51)  # over max_message_bytes


def test_drain_empty() -> None:
    assert make().drain() == []


def test_split_halves() -> None:
    assert split([1, 2, 3]) == ([1, 2], [3])
    assert split([1, 2]) == ([1], [2])


@pytest.mark.parametrize(
    "kwargs",
    [{"max_items": 0}, {"max_bytes": 10, "max_message_bytes": 20}, {"interval": -1}],
)
def test_limits_validate(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        BatchLimits(**kwargs)  # type: ignore[arg-type]


@given(
    sizes=st.lists(st.integers(1, 50), max_size=200),
    max_items=st.integers(1, 20),
    max_bytes=st.integers(60, 400),
)
def test_every_item_lands_in_exactly_one_batch_within_limits(
    sizes: list[int], max_items: int, max_bytes: int
) -> None:
    b = make(max_items=max_items, max_bytes=max_bytes)
    batches: list[list[str]] = []
    size_of = {}
    for i, size in enumerate(sizes):
        size_of[str(i)] = size
        batches += b.add(str(i), size, now=float(i))
    batches += b.drain()
    flat = [item for batch in batches for item in batch]
    assert flat == [str(i) for i in range(len(sizes))]
    for batch in batches:
        assert 1 <= len(batch) <= max_items
        body = 10 + sum(size_of[i] for i in batch) + len(batch) - 1
        assert body <= max_bytes


def test_the_core_knows_no_io() -> None:
    package = Path(__file__).parent.parent / "aioanalytics"
    for name in ("_models.py", "_wire.py", "_batching.py", "_retry.py", "_config.py"):
        tree = ast.parse((package / name).read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert not imported & {"asyncio", "anyio", "httpx"}, name
