"""Emulators of the Mixpanel, Trak.io and Segment HTTP APIs, and the clients that use them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.destinations.emulator import Answer, Emulator, Recorded

_MIXPANEL_VERBOSE = frozenset({"/track", "/engage", "/groups"})
_TRAKIO_ROUTES = frozenset(f"/v1/{name}" for name in ("identify", "track", "company", "alias"))


def mixpanel_answer(request: Recorded) -> Answer:
    """Mixpanel's answers: verbose status objects, and ``/import`` behind HTTP Basic auth."""
    if request.path == "/import":
        if request.auth is None:
            return Answer(401, {"error": "Unauthorized, invalid project secret", "status": 0})
        verbose = "1" in (request.query.get("verbose"), request.form.get("verbose"))
        count = len(request.records)
        status = 1 if verbose else "OK"
        return Answer(200, {"code": 200, "num_records_imported": count, "status": status})
    if request.path in _MIXPANEL_VERBOSE:
        for record in request.records:
            if not isinstance(record, dict) or not (
                record.get("$token") or (record.get("properties") or {}).get("token")
            ):
                return Answer(200, {"status": 0, "error": "token, missing or empty"})
        return Answer(200, {"status": 1, "error": None})
    return Answer(404, {"error": "not found"})


def trakio_answer(request: Recorded) -> Answer:
    """Trak.io's answers: the token is required; routes other than the four are unknown."""
    if request.path not in _TRAKIO_ROUTES:
        return Answer(404, _trakio_error(404, "RouteNotFound"))
    if not (request.headers.get("x-token") or request.headers.get("x-trakio-token")):
        return Answer(401, _trakio_error(401, "InvalidToken"))
    return Answer(200, {"status": "success"})


def _trakio_error(code: int, name: str) -> dict[str, Any]:
    return {
        "status": "error",
        "code": code,
        "exception": f"TrakioAPI::Exceptions::{name}",
        "message": name,
        "details": "",
    }


def segment_answer(request: Recorded) -> Answer:
    """Segment's answer to ``/v1/batch``."""
    if request.path == "/v1/batch":
        return Answer(200, {"success": True})
    return Answer(404, {"success": False})


@pytest.fixture
def mixpanel_api() -> Iterator[Emulator]:
    """The Mixpanel ingestion API on 127.0.0.1."""
    with Emulator(mixpanel_answer) as emulator:
        yield emulator


@pytest.fixture
def trakio_api() -> Iterator[Emulator]:
    """The Trak.io API on 127.0.0.1."""
    with Emulator(trakio_answer) as emulator:
        yield emulator


@pytest.fixture
def segment_api() -> Iterator[Emulator]:
    """Segment's HTTP API on 127.0.0.1."""
    with Emulator(segment_answer) as emulator:
        yield emulator
