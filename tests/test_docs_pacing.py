"""The pacing constants are named once, in ``_config.py``; wherever the docs quote one of
their numbers, it must be the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aioanalytics import _config

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    "README.md",
    "docs/architecture.md",
    "docs/configuration.md",
    "docs/delivery.md",
    "docs/performance.md",
    "docs/reliability.md",
]
PACING = (
    "GZIP_LEVEL",
    "GZIP_RECORDS",
    "SETTLE_EVERY",
    "YIELD_EVERY",
    "WAKE_EVERY",
    "HELD_PER_REQUEST",
    "SLICE_MESSAGES",
)
#: How the docs describe a pacing number without naming it.
PHRASES = {
    r"(\d[\d,]*) records (?:per|a) step": "GZIP_RECORDS",
    r"compressed \(?(\d[\d,]*) per step": "GZIP_RECORDS",
    r"settled \(?(\d[\d,]*)(?: messages)? per step": "SETTLE_EVERY",
    r"settles? (?:them )?(\d[\d,]*) (?:at a time|per step)": "SETTLE_EVERY",
    r"yields every (\d[\d,]*) entries": "YIELD_EVERY",
    r"at most (\d+)x as many batches": "HELD_PER_REQUEST",
}


def _quotes(text: str) -> list[tuple[str, int]]:
    found = []
    for name in PACING:
        # `NAME` (50), `NAME` = 50, NAME = 50, `NAME` | 50 (a table row)
        pattern = rf"`?{name}`?\s*(?:\(|=|\|)\s*(\d[\d,]*)"
        found += [(name, int(m.group(1).replace(",", ""))) for m in re.finditer(pattern, text)]
    for pattern, name in PHRASES.items():
        spaced = pattern.replace(" ", r"\s+")  # a phrase may wrap
        found += [(name, int(m.group(1).replace(",", ""))) for m in re.finditer(spaced, text)]
    return found


@pytest.mark.parametrize("doc", DOCS)
def test_the_docs_quote_the_pacing_numbers_of_the_code(doc: str) -> None:
    text = (ROOT / doc).read_text()
    wrong = [(name, n, getattr(_config, name)) for name, n in _quotes(text)]
    assert [w for w in wrong if w[1] != w[2]] == []


def test_the_check_sees_a_wrong_number() -> None:
    assert _quotes("compressed `GZIP_RECORDS` (100) records, 256 records per step") == [
        ("GZIP_RECORDS", 100),
        ("GZIP_RECORDS", 256),
    ]


def test_every_pacing_constant_is_documented_with_its_value() -> None:
    text = (ROOT / "docs/architecture.md").read_text()
    assert {name for name, _ in _quotes(text)} >= set(PACING)
