"""Trak.io, pure: settings, the translation of every rule, and the answer classification."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

from aioanalytics import Decision, Response
from aioanalytics.destinations.trakio import TrakIo
from tests.destinations.support import TOKEN, Rule, translate
from tests.destinations.trakio_rules import TRAKIO_RULES


def _key(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


@pytest.mark.parametrize("rule", TRAKIO_RULES, ids=lambda rule: rule.id)
def test_rule(rule: Rule) -> None:
    """Each mapping rule gives exactly the expected request bodies per route."""
    by_path: dict[str, list[Any]] = {}
    for record in translate(TrakIo(token=TOKEN, **rule.settings), rule):
        body = json.loads(record.data)
        assert body["source"] == "aioanalytics"
        by_path.setdefault(f"/v1/{record.endpoint}", []).append(body["data"])
    assert {path: sorted(map(_key, data)) for path, data in by_path.items()} == {
        path: sorted(map(_key, data)) for path, data in rule.expect.items()
    }


def test_token_is_required() -> None:
    """Without a token the destination is invalid and cannot be created."""
    with pytest.raises(pydantic.ValidationError, match="token"):
        TrakIo()  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="token"):
        TrakIo(token="")


def test_settings() -> None:
    """Named and categorized pageviews default on; Segment's names validate; browser-only
    settings are ignored; unknown ones are refused."""
    default = TrakIo(token=TOKEN)
    assert (default.track_named_pages, default.track_categorized_pages) == (True, True)
    settings = TrakIo.model_validate(
        {
            "token": TOKEN,
            "trackNamedPages": False,
            "trackCategorizedPages": False,
            "initialPageview": True,
        }
    )
    assert (settings.track_named_pages, settings.track_categorized_pages) == (False, False)
    with pytest.raises(pydantic.ValidationError, match="typo"):
        TrakIo.model_validate({"token": TOKEN, "typo": 1})


def test_endpoints_send_one_record_each_with_the_token_header() -> None:
    """Four routes under https://api.trak.io/v1, one record per request, X-Token auth."""
    endpoints = TrakIo(token=TOKEN).endpoints
    assert {key: endpoint.url for key, endpoint in endpoints.items()} == {  # type: ignore[attr-defined]
        key: f"https://api.trak.io/v1/{key}" for key in ("identify", "track", "company", "alias")
    }
    endpoint = endpoints["track"]
    assert endpoint.limits.max_items == 1
    request = endpoint.build([b'{"data":{}}'], sent_at="2024-03-15T11:59:30.123Z")
    assert (request.method, request.content) == ("POST", b'{"data":{}}')
    assert request.headers["X-Token"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "decision"),
    [
        (200, Decision.ACCEPT),
        (202, Decision.ACCEPT),
        (400, Decision.REJECT),
        (401, Decision.REJECT),
        (402, Decision.REJECT),
        (404, Decision.REJECT),
        (429, Decision.RETRY),
        (500, Decision.RETRY),
        (502, Decision.RETRY),
        (503, Decision.RETRY),
        (504, Decision.RETRY),
        (None, Decision.RETRY),
    ],
)
def test_answers(status: int | None, decision: Decision) -> None:
    """200/202 succeed; 400/401/402/404 are final; 429, 5xx and network errors retry."""
    endpoint = TrakIo(token=TOKEN).endpoints["identify"]
    response = None if status is None else Response(status, {}, "")
    assert endpoint.decide(response, batch_size=1) is decision


def test_other_message_types_translate_to_nothing() -> None:
    """An unknown message type produces no records."""
    assert TrakIo(token=TOKEN).translate({"type": "batch"}, b"") == []


def test_the_token_stays_out_of_reprs() -> None:
    """Neither the destination's endpoints nor their reprs show the token."""
    destination = TrakIo(token="secret-token")
    assert "secret-token" not in repr(destination.endpoints)
