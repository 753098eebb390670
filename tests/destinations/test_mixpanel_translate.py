"""Mixpanel, pure: settings, the translation of every rule, and the answer classification."""

from __future__ import annotations

import json
import logging
from typing import Any

import pydantic
import pytest

from aioanalytics import Decision, Response, RetryPolicy
from aioanalytics.destinations.mixpanel import (
    Mixpanel,
    MixpanelEndpoint,
    MixpanelRetryPolicy,
    insert_id,
    revenue,
)
from tests.destinations.mixpanel_rules import MIXPANEL_RULES
from tests.destinations.support import MIXPANEL_PATHS, TOKEN, Rule, translate


@pytest.mark.parametrize("rule", MIXPANEL_RULES, ids=lambda rule: rule.id)
def test_rule(rule: Rule) -> None:
    """Each mapping rule of the spec gives exactly the expected records per request path."""
    records = translate(Mixpanel(token=TOKEN, **rule.settings), rule)
    by_path: dict[str, list[Any]] = {}
    for record in records:
        by_path.setdefault(MIXPANEL_PATHS[record.endpoint], []).append(json.loads(record.data))
    assert by_path == rule.expect


def test_token_is_required() -> None:
    """Without a token the destination is invalid and cannot be created."""
    with pytest.raises(pydantic.ValidationError, match="token"):
        Mixpanel()  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="token"):
        Mixpanel(token="")


def test_defaults_follow_the_documented_settings() -> None:
    """Defaults: People off, all traits set, consolidated pages, categorized and named on."""
    settings = Mixpanel(token=TOKEN)
    assert (
        settings.people,
        settings.set_all_traits_by_default,
        settings.consolidated_page_calls,
        settings.track_all_pages,
        settings.track_categorized_pages,
        settings.track_named_pages,
        settings.batch_size,
        settings.import_batch_size,
    ) == (False, True, True, False, True, True, 50, 2000)


def test_segment_settings_export_validates_and_browser_settings_are_ignored() -> None:
    """Segment's camel-case settings validate; browser-only ones are accepted and ignored."""
    settings = Mixpanel.model_validate(
        {
            "token": TOKEN,
            "apiSecret": "s",
            "people": True,
            "setAllTraitsByDefault": False,
            "peopleProperties": ["plan"],
            "superProperties": ["plan"],
            "eventIncrements": ["Signed Up"],
            "increments": ["Logged In"],
            "consolidatedPageCalls": False,
            "trackAllPages": True,
            "trackCategorizedPages": False,
            "trackNamedPages": False,
            "enableEuropeanUnionEndpoint": True,
            "crossSubdomainCookie": True,
            "persistence": "cookie",
            "secureCookie": False,
            "apiKey": "legacy",
        }
    )
    assert settings.people_properties == ("plan",)
    assert settings.event_increments == ("Signed Up",)
    assert settings.increments == ("Logged In",)
    assert settings.api_secret == "s"
    with pytest.raises(pydantic.ValidationError, match="typo"):
        Mixpanel.model_validate({"token": TOKEN, "typo": 1})


def test_secrets_stay_out_of_the_repr() -> None:
    """The secret and the service account secret never appear in a repr."""
    settings = Mixpanel(
        token=TOKEN,
        api_secret="top-secret",
        service_account={"username": "sa", "secret": "sa-secret", "project_id": "1"},
    )
    assert "top-secret" not in repr(settings)
    assert "sa-secret" not in repr(settings)
    assert "sa-secret" not in repr(settings.endpoints)


@pytest.mark.parametrize(
    ("settings", "base"),
    [
        ({}, "https://api.mixpanel.com"),
        ({"enable_european_union_endpoint": True}, "https://api-eu.mixpanel.com"),
        ({"api_host": "api-in.mixpanel.com"}, "https://api-in.mixpanel.com"),
        (
            {"api_host": "api-in.mixpanel.com", "enable_european_union_endpoint": True},
            "https://api-in.mixpanel.com",
        ),
        ({"api_host": "https://proxy.example/mixpanel/"}, "https://proxy.example/mixpanel"),
    ],
)
def test_data_residency_hosts(settings: dict[str, Any], base: str) -> None:
    """US by default, EU with the EU setting, and an explicit api_host wins over both."""
    endpoints = Mixpanel(token=TOKEN, **settings).endpoints
    assert {key: endpoint.url for key, endpoint in endpoints.items()} == {  # type: ignore[attr-defined]
        "track": f"{base}/track?verbose=1&ip=0",
        "engage": f"{base}/engage?verbose=1&ip=0",
        "alias": f"{base}/track?verbose=1&ip=0",
    }


@pytest.mark.parametrize("host", ["http://api.mixpanel.com", "ftp://x", "https://"])
def test_api_host_must_be_https_unless_loopback(host: str) -> None:
    """Plain http is refused except to loopback hosts; other schemes are refused."""
    with pytest.raises(pydantic.ValidationError, match="api_host"):
        Mixpanel(token=TOKEN, api_host=host)


def test_import_endpoint_needs_credentials() -> None:
    """/import exists with a secret (basic auth, secret as user) or a service account."""
    assert "import" not in Mixpanel(token=TOKEN).endpoints
    secret = Mixpanel(token=TOKEN, api_secret="s").endpoints["import"]
    assert secret.url == "https://api.mixpanel.com/import?strict=1"  # type: ignore[attr-defined]
    assert secret.limits.max_items == 2000
    account = Mixpanel(
        token=TOKEN,
        service_account={"username": "u", "secret": "s", "projectId": "42"},
    ).endpoints["import"]
    assert account.url == (  # type: ignore[attr-defined]
        "https://api.mixpanel.com/import?strict=1&project_id=42"
    )


@pytest.mark.parametrize("size", [0, 2001])
def test_batch_sizes_are_bounded(size: int) -> None:
    """Batch sizes are between 1 and Mixpanel's 2000 records per request."""
    with pytest.raises(pydantic.ValidationError):
        Mixpanel(token=TOKEN, batch_size=size)
    with pytest.raises(pydantic.ValidationError):
        Mixpanel(token=TOKEN, import_batch_size=size)


def test_batch_limits() -> None:
    """Batches close at batch_size records or before 2 MB; an event stays under 1 MB."""
    limits = Mixpanel(token=TOKEN, batch_size=7, flush_interval=0.25).endpoints["track"].limits
    assert (limits.max_items, limits.max_bytes, limits.interval, limits.max_message_bytes) == (
        7,
        2_000_000,
        0.25,
        1_000_000,
    )
    alias = Mixpanel(token=TOKEN).endpoints["alias"].limits
    assert (alias.max_items, alias.interval) == (1, 0.0)


def test_retry_settings_are_checked() -> None:
    """Backoff bounds and jitter are validated with the settings."""
    with pytest.raises(pydantic.ValidationError, match="backoff"):
        Mixpanel(token=TOKEN, backoff_initial=5, backoff_max=1)
    with pytest.raises(pydantic.ValidationError, match="jitter"):
        Mixpanel(token=TOKEN, backoff_jitter=(3, 1))


def _endpoint(strict: bool = False) -> MixpanelEndpoint:
    endpoint = Mixpanel(token=TOKEN, api_secret="s").endpoints["import" if strict else "track"]
    assert isinstance(endpoint, MixpanelEndpoint)
    return endpoint


@pytest.mark.parametrize(
    ("strict", "status", "body", "batch", "decision"),
    [
        (False, 200, '{"status": 1, "error": null}', 5, Decision.ACCEPT),
        (False, 200, '{"status": 0, "error": "bad token"}', 5, Decision.REJECT),
        (False, 200, "1", 5, Decision.ACCEPT),
        (False, 200, "0", 5, Decision.REJECT),
        (False, 200, "", 5, Decision.ACCEPT),
        (True, 200, '{"code": 200, "num_records_imported": 5, "status": "OK"}', 5, Decision.ACCEPT),
        (True, 400, '{"code": 400, "failed_records": []}', 5, Decision.REJECT),
        (False, 400, "{}", 5, Decision.REJECT),
        (False, 401, "{}", 5, Decision.REJECT),
        (True, 403, "{}", 5, Decision.REJECT),
        (False, 413, "request exceeds max limit of 2097152 bytes", 5, Decision.SPLIT),
        (False, 413, "", 1, Decision.REJECT),
        (False, 429, "", 5, Decision.RETRY),
        (False, 408, "", 5, Decision.RETRY),
        (True, 500, "", 5, Decision.RETRY),
        (False, 502, "", 5, Decision.RETRY),
        (False, 503, "", 5, Decision.RETRY),
        (False, 504, "", 5, Decision.RETRY),
        (False, 404, "", 5, Decision.REJECT),
    ],
)
def test_answers(strict: bool, status: int, body: str, batch: int, decision: Decision) -> None:
    """Each documented Mixpanel answer maps to its client action (spec A2, responses)."""
    response = Response(status, {}, body)
    assert _endpoint(strict).decide(response, batch_size=batch) is decision


def test_network_errors_retry() -> None:
    """No answer at all (network error, timeout) is retried."""
    assert _endpoint().decide(None, batch_size=3) is Decision.RETRY


def test_auth_failure_marks_the_destination_unhealthy(caplog: pytest.LogCaptureFixture) -> None:
    """401/403 record the failure on the destination and log it."""
    destination = Mixpanel(token=TOKEN)
    assert destination.auth_error is None
    with caplog.at_level(logging.ERROR):
        destination.endpoints["engage"].decide(Response(401, {}, "invalid"), batch_size=1)
    assert destination.auth_error == (
        "HTTP 401 from https://api.mixpanel.com/engage?verbose=1&ip=0: invalid"
    )
    assert "refused the credentials" in caplog.text


def test_backoff_doubles_to_the_cap_plus_jitter() -> None:
    """429/5xx backoff: 2 s doubling up to 60 s, plus 1-5 s of jitter; Retry-After wins."""
    policy = MixpanelRetryPolicy(backoff_initial=2.0, backoff_max=60.0)
    assert [policy.backoff(n, random=0.0) for n in (1, 2, 3, 6, 7)] == [3, 5, 9, 61, 61]
    assert policy.backoff(1, random=1.0) == 7.0
    for wait in (12.0, 6000.0):
        assert policy.backoff(3, random=0.5, server_wait=wait) == RetryPolicy().backoff(
            3, random=0.5, server_wait=wait
        )
    assert Mixpanel(token=TOKEN).endpoints["track"].retry == policy.__class__(
        max_retries=5, backoff_initial=2.0, backoff_max=60.0, jitter_min=1.0, jitter_max=5.0
    )


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [
        ("0b2c4f5e-1d1e-4a3b-9c8d-7e6f5a4b3c2d", "0b2c4f5e-1d1e-4a3b-9c8d-7e6f5a4b3c2d"),
        ("abc-123", "abc-123"),
        ("x" * 37, None),
        ("a b", None),
    ],
)
def test_insert_id(message_id: str, expected: str | None) -> None:
    """The messageId when it fits [A-Za-z0-9-]{1,36}, else 32 hex digits of its SHA-256."""
    result = insert_id(message_id)
    if expected is not None:
        assert result == expected
    else:
        assert len(result) == 32
        assert set(result) <= set("0123456789abcdef")
        assert result == insert_id(message_id)


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        (25.5, 25.5),
        (3, 3),
        ("$1,234.50", 1234.5),
        (" 7 ", 7.0),
        ("seven", None),
        (True, None),
        (None, None),
        ([1], None),
    ],
)
def test_revenue(value: Any, amount: float | None) -> None:
    """Revenue is a number, or a numeric string with $ and , stripped; anything else is none."""
    assert revenue({"revenue": value}) == amount


def test_reserved_names_warn_once_per_event(caplog: pytest.LogCaptureFixture) -> None:
    """length and bucket are sent as they are, with one warning per event name."""
    destination = Mixpanel(token=TOKEN)
    rule = Rule("", "track", {"user_id": "u1", "event": "E", "properties": {"length": 1}}, {})
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            translate(destination, rule)
    assert caplog.text.count("reserved property name 'length'") == 1


def test_placeholder_distinct_ids_are_sent_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A placeholder distinct_id (such as "anonymous") is not rewritten, but is warned about."""
    rule = Rule("", "track", {"anonymous_id": "anonymous", "event": "E"}, {})
    with caplog.at_level(logging.WARNING):
        [record] = translate(Mixpanel(token=TOKEN), rule)
    assert json.loads(record.data)["properties"]["distinct_id"] == "anonymous"
    assert "placeholder distinct_id" in caplog.text


def test_dropped_old_events_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """An event too old for /track and without /import credentials is logged as an error."""
    rule = next(r for r in MIXPANEL_RULES if "without credentials" in r.id)
    with caplog.at_level(logging.ERROR):
        assert translate(Mixpanel(token=TOKEN, people=True), rule) == []
    assert "need api_secret or service_account" in caplog.text


def test_other_message_types_translate_to_nothing() -> None:
    """An unknown message type produces no records."""
    assert Mixpanel(token=TOKEN).translate({"type": "batch"}, b"") == []


def test_a_message_without_a_valid_timestamp_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """A message whose timestamp a plugin broke sends nothing, with an error in the log."""
    message = {"type": "track", "event": "E", "userId": "u1", "messageId": "m", "timestamp": "x"}
    with caplog.at_level(logging.ERROR):
        assert Mixpanel(token=TOKEN).translate(message, b"") == []
    assert "no valid timestamp" in caplog.text


@pytest.mark.parametrize("host", ["http://localhost:8080", "http://[::1]:8080", "127.0.0.1:9"])
def test_loopback_hosts_may_use_plain_http(host: str) -> None:
    """Plain http is fine to a loopback host (a local emulator or collector)."""
    assert (
        Mixpanel(token=TOKEN, api_host=host)
        .endpoints["track"]
        .url.startswith(  # type: ignore[attr-defined]
            host if "://" in host else f"https://{host}"
        )
    )


def test_tokens_stay_out_of_reprs() -> None:
    """Project tokens are credentials too: no repr shows them."""
    from aioanalytics.destinations import TrakIo

    mixpanel = Mixpanel(token="mp-token-123", api_secret="mp-secret-456")
    trakio = TrakIo(token="tk-token-789")
    for text in (repr(mixpanel), repr(mixpanel.endpoints), repr(trakio), repr(trakio.endpoints)):
        assert "mp-token-123" not in text
        assert "mp-secret-456" not in text
        assert "tk-token-789" not in text
