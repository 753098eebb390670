"""Credentials never reach error text: not from settings validation, not from echoed bodies."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from aioanalytics import DeliveryError
from aioanalytics.destinations._secrets import REDACTED, credentials, redact
from aioanalytics.destinations.mixpanel import Mixpanel, ServiceAccount
from aioanalytics.destinations.trakio import TrakIo
from tests.collector import Action, Collector
from tests.destinations.emulator import Answer, Emulator, Recorded
from tests.destinations.support import FAST_MIXPANEL, FAST_TRAKIO, OLD, run

WRITE_KEY = "wk_9f2c4e7a1b3d5f60_segment"
MIXPANEL_TOKEN = "mp_token_5a8e2c9f0b1d4e73"
API_SECRET = "mp_secret_0c1f7b3e9a2d6854"
ACCOUNT_SECRET = "sa_secret_77e1c0ab93f42d5e"
TRAKIO_TOKEN = "tk_token_3e9b1f7c2a5d8064"


def _forms(secret: str, user: str | None = None) -> list[str]:
    """The secret as given, and as it travels in a Basic credential."""
    forms = [secret]
    for pair in (f"{secret}:", f":{secret}", f"{user}:{secret}" if user else None):
        if pair is not None:
            forms.append(base64.b64encode(pair.encode()).decode())
    return forms


def _assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in _forms(secret, "svc-user"):
            assert form not in text


# -- settings validation ------------------------------------------------------------------

SETTINGS_ERRORS: list[tuple[str, Callable[[], Any], tuple[Any, ...]]] = [
    (
        "service account missing its project id",
        lambda: Mixpanel(
            token=MIXPANEL_TOKEN,
            service_account={"username": "svc-user", "secret": ACCOUNT_SECRET},
        ),
        ("service_account", "projectId"),
    ),
    ("token of the wrong type", lambda: Mixpanel(token=[MIXPANEL_TOKEN]), ("token",)),
    (
        "misspelled secret setting",
        lambda: Mixpanel.model_validate({"token": MIXPANEL_TOKEN, "apiSecrett": API_SECRET}),
        ("apiSecrett",),
    ),
    ("settings that are not a mapping", lambda: Mixpanel.model_validate([MIXPANEL_TOKEN]), ()),
    (
        "secret that is not text",
        lambda: ServiceAccount(
            username="svc-user", secret=ACCOUNT_SECRET.encode() + b"\xff", project_id="1"
        ),
        ("secret",),
    ),
    ("misspelled token setting", lambda: TrakIo(tokn=TRAKIO_TOKEN), ("tokn",)),
    (
        "token beside a bad option",
        lambda: TrakIo(token=TRAKIO_TOKEN, max_retries=[TRAKIO_TOKEN]),
        ("max_retries",),
    ),
]


@pytest.mark.parametrize(
    ("build", "loc"),
    [case[1:] for case in SETTINGS_ERRORS],
    ids=[case[0] for case in SETTINGS_ERRORS],
)
def test_settings_errors_never_show_a_credential(build: Callable[[], Any], loc: Any) -> None:
    """The error still names the field at fault, but neither its text nor its details (the
    ``input`` of each error) hold the token or the secret."""
    with pytest.raises(pydantic.ValidationError) as caught:
        build()
    exc = caught.value
    assert loc in [error["loc"] for error in exc.errors()]
    details = exc.errors(include_url=False)
    for text in (str(exc), repr(exc), repr(details), exc.json()):
        _assert_hidden(text, MIXPANEL_TOKEN, API_SECRET, ACCOUNT_SECRET, TRAKIO_TOKEN)
    assert all(error["input"] == "[hidden]" for error in details)


def test_valid_settings_are_unchanged() -> None:
    """Hiding inputs changes errors only: valid settings validate as before."""
    mixpanel = Mixpanel.model_validate(
        {
            "token": MIXPANEL_TOKEN,
            "serviceAccount": {"username": "u", "secret": ACCOUNT_SECRET, "projectId": "7"},
            "persistence": "cookie",  # browser-only: accepted and ignored
        }
    )
    assert mixpanel.service_account is not None
    assert mixpanel.service_account.secret == ACCOUNT_SECRET
    assert TrakIo(token=TRAKIO_TOKEN).token == TRAKIO_TOKEN


# -- echoed request headers and bodies ---------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 500])
async def test_segment_write_key_never_reaches_errors_or_log(
    status: int, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """A collector that echoes the request's headers in its error body: the write key (and
    its Basic credential) is in neither the DeliveryError, nor ``on_error``'s argument, nor
    the log."""
    collector.set_hook(
        lambda request: Action(
            status,
            body={"auth": request.headers["authorization"], "echo": dict(request.headers)},
        )
    )
    seen: list[tuple[BaseException, list[Any]]] = []
    caplog.set_level(logging.DEBUG, logger="aioanalytics")
    [result] = await run(
        [],
        [("track", {"user_id": "u1", "event": "Signed Up"})],
        write_key=WRITE_KEY,
        host=collector.url,
        max_retries=1,
        on_error=lambda error, messages: seen.append((error, messages)),
    )
    assert isinstance(result, DeliveryError)
    assert result.status_code == status
    assert REDACTED in result.body  # the echo came back, redacted
    [(error, messages)] = seen
    assert error is result
    texts = [str(result), repr(result), result.body, repr(messages), caplog.text]
    for text in texts:
        _assert_hidden(text, WRITE_KEY)
    assert collector.requests[0].headers["authorization"].startswith("Basic ")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("settings", "secret"),
    [
        ({"api_secret": API_SECRET}, API_SECRET),
        (
            {
                "service_account": {
                    "username": "svc-user",
                    "secret": ACCOUNT_SECRET,
                    "projectId": "7",
                }
            },
            ACCOUNT_SECRET,
        ),
    ],
    ids=["api-secret", "service-account"],
)
async def test_mixpanel_credentials_never_reach_errors_or_log(
    settings: dict[str, Any], secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Mixpanel's ``/import`` answering 400 and ``/track`` answering 401, both echoing the
    request: the Basic credential, the secret and the token (carried in every record) are
    redacted from the errors, ``auth_error`` and the log. ``on_error`` gets the failed
    records as they were sent, token included (they are Mixpanel's payload), but never the
    secret."""

    def answer(request: Recorded) -> Answer:
        status = 400 if request.path == "/import" else 401
        auth = request.headers.get("authorization")
        return Answer(status, {"auth": auth, "records": request.body, "headers": request.headers})

    seen: list[BaseException] = []
    failed: list[Any] = []
    caplog.set_level(logging.DEBUG, logger="aioanalytics")
    with Emulator(answer) as api:
        destination = Mixpanel(
            token=MIXPANEL_TOKEN, api_host=api.url, max_retries=0, **FAST_MIXPANEL, **settings
        )
        results = await run(
            [destination],
            [
                ("track", {"user_id": "u1", "event": "Old", "timestamp": OLD}),
                ("track", {"user_id": "u1", "event": "New"}),
            ],
            on_error=lambda error, messages: (seen.append(error), failed.extend(messages)),
        )
        assert {request.path for request in api.requests} == {"/import", "/track"}
    assert len(failed) == 2
    _assert_hidden(repr(failed), secret)
    assert all(isinstance(result, DeliveryError) for result in results)
    assert destination.auth_error is not None and REDACTED in destination.auth_error
    texts = [str(result) for result in results] + [repr(error) for error in seen]
    texts += [destination.auth_error, caplog.text]
    assert any(REDACTED in text for text in texts)
    for text in texts:
        _assert_hidden(text, secret, MIXPANEL_TOKEN)


@pytest.mark.anyio
async def test_mixpanel_secret_cut_off_by_the_excerpt_is_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A body is kept only to its first KiB: a credential echoed across that edge leaves no
    beginning of itself behind."""
    credential = "Basic " + base64.b64encode(f"{API_SECRET}:".encode()).decode()

    def answer(request: Recorded) -> Answer:
        # The credential starts 12 characters before the 1024th: only its start is kept.
        text = "x" * (1024 - 12) + request.headers["authorization"] + "x" * 100
        return Answer(400, text.encode())

    caplog.set_level(logging.WARNING, logger="aioanalytics")
    with Emulator(answer) as api:
        destination = Mixpanel(
            token=MIXPANEL_TOKEN, api_secret=API_SECRET, api_host=api.url, **FAST_MIXPANEL
        )
        [result] = await run(
            [destination], [("track", {"user_id": "u1", "event": "Old", "timestamp": OLD})]
        )
    assert isinstance(result, DeliveryError)
    assert "refused some records" in caplog.text
    assert caplog.text.count("x" * (1024 - 12) + REDACTED) == 1
    assert credential[:8] not in caplog.text


@pytest.mark.anyio
async def test_trakio_token_never_reaches_errors_or_log(caplog: pytest.LogCaptureFixture) -> None:
    """Trak.io's ``X-Token`` header, echoed in a 400 and a 500 body, is redacted."""

    def answer(request: Recorded) -> Answer:
        status = 400 if request.path == "/v1/track" else 500
        return Answer(status, {"token": request.headers["x-token"], "got": request.headers})

    caplog.set_level(logging.DEBUG, logger="aioanalytics")
    seen: list[BaseException] = []
    with Emulator(answer) as api:
        destination = TrakIo(token=TRAKIO_TOKEN, api_host=api.url, max_retries=1, **FAST_TRAKIO)
        results = await run(
            [destination],
            [
                ("track", {"user_id": "u1", "event": "E"}),
                ("alias", {"user_id": "u1", "previous_id": "a"}),
            ],
            on_error=lambda error, messages: seen.append(error),
        )
    assert [result.status_code for result in results if isinstance(result, DeliveryError)] == [
        400,
        500,
    ]
    texts = [str(result) for result in results] + [str(error) for error in seen] + [caplog.text]
    assert all(REDACTED in text for text in texts[:2])
    for text in texts:
        _assert_hidden(text, TRAKIO_TOKEN)


# -- the redaction itself ----------------------------------------------------------------


def test_credentials_of_request_headers() -> None:
    """Credential headers give their value, the credential after the scheme and, for Basic,
    the decoded user and password; other headers give nothing."""
    basic = base64.b64encode(b"user-name:pass-word-1").decode()
    found = credentials(
        {
            "Authorization": f"Basic {basic}",
            "X-Api-Key": "key-0123456789",
            "Content-Type": "application/json",
            "User-Agent": "aioanalytics/1.0",
        }
    )
    assert set(found) == {
        f"Basic {basic}",
        basic,
        "user-name:pass-word-1",
        "user-name",
        "pass-word-1",
        "key-0123456789",
    }
    assert credentials({"Authorization": "Bearer tok-0123456789"}) == [
        "Bearer tok-0123456789",
        "tok-0123456789",
    ]


@pytest.mark.parametrize(
    "echo",
    [
        "secret/with+chars=",  # as it is
        "secret\\/with+chars=",  # JSON with escaped slashes
        "secret%2Fwith%2Bchars%3D",  # URL-encoded
    ],
)
def test_redact_every_form(echo: str) -> None:
    text = '{"error": "bad request", "echo": "' + echo + '", "n": 1}'
    assert json.loads(redact(text, ["secret/with+chars="])) == {
        "error": "bad request",
        "echo": REDACTED,
        "n": 1,
    }


def test_redact_leaves_short_values_and_other_text() -> None:
    """Values under 8 characters are no credential worth garbling a body for."""
    assert redact("invalid key", ["key"]) == "invalid key"
    assert redact("no secret here", ["0123456789abcdef"]) == "no secret here"
    assert redact("cut: 0123", ["0123456789abcdef"]) == f"cut: {REDACTED}"
