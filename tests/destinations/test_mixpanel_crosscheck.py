"""Mixpanel, checked against Mixpanel's own Python library (``mixpanel`` 5.4.1).

For each Segment call, the equivalent calls of the official library are sent to a second
emulator, and the decoded requests are compared: the same records with the same fields and
JSON types, the same ``verbose``/``ip`` parameters and the same authentication. Compared by
type only, because they vary by nature: ``time``/``$time`` (our message time in whole seconds
and milliseconds; the library's clock as float seconds) and ``$insert_id`` (ours from the
messageId, the library's random). Each library names itself (``mp_lib``, ``$lib_version``),
and ``$time`` is optional on profile updates (Mixpanel takes "now"): those are compared only
when both sides send them. The encodings differ on purpose (a JSON array body for us, a form
field for the library) and are compared decoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import mixpanel as mp  # type: ignore[import-untyped]
import pytest

from tests.destinations.conftest import mixpanel_answer
from tests.destinations.emulator import Emulator, Recorded
from tests.destinations.support import (
    AT_DATE,
    OLD,
    OLD_SECONDS,
    TOKEN,
    mixpanel,
    run,
)

pytestmark = pytest.mark.anyio

VARIABLE = frozenset({"time", "$time", "$insert_id"})
SELF_NAMING = frozenset({"mp_lib", "$lib_version"})
OPTIONAL = frozenset({"$time"})
INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
#: Properties our destination adds to every event; the equivalent library call passes them.
EXTENSIONS = {"mp_name_tag": "u1", "$user_id": "u1"}
#: What an identify's profile update carries besides the operation (the library's ``meta``).
PROFILE_META = {"$ip": 0, "$ignore_time": False}
PROPERTIES = {"plan": "pro", "seats": 3, "price": 9.5, "trial": False, "tags": ["a"], "é": "ü"}
SERVICE_ACCOUNT = {"username": "sa", "secret": "sa-secret", "project_id": "123"}


@pytest.fixture
def reference_api() -> Iterator[Emulator]:
    """A second Mixpanel API, for the official library."""
    with Emulator(mixpanel_answer) as emulator:
        yield emulator


def _shape(value: Any, key: str | None = None) -> Any:
    if key in VARIABLE:
        if key == "$insert_id":
            return "insert-id" if INSERT_ID.fullmatch(str(value)) else value
        return "number" if isinstance(value, int | float) and not isinstance(value, bool) else value
    if isinstance(value, dict):
        return {k: _shape(v, k) for k, v in value.items() if k not in SELF_NAMING}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return value


def _align(ours: Any, theirs: Any) -> tuple[Any, Any]:
    # Drop the optional keys that only one side sends, at every level.
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in OPTIONAL:
            if (key in ours) != (key in theirs):
                ours.pop(key, None)
                theirs.pop(key, None)
        for key in ours.keys() & theirs.keys():
            ours[key], theirs[key] = _align(ours[key], theirs[key])
    elif isinstance(ours, list) and isinstance(theirs, list):
        pairs = [_align(a, b) for a, b in zip(ours, theirs, strict=False)]
        ours = [a for a, _ in pairs] + ours[len(pairs) :]
        theirs = [b for _, b in pairs] + theirs[len(pairs) :]
    return ours, theirs


def _records(api: Emulator) -> dict[str, list[Any]]:
    by_path: dict[str, list[Any]] = {}
    for request in api.requests:
        by_path.setdefault(request.path, []).extend(request.records)
    return by_path


def _params(request: Recorded) -> dict[str, str]:
    return {k: v for k, v in {**request.query, **request.form}.items() if k != "strict"}


def assert_same_layout(ours: Emulator, theirs: Emulator) -> None:
    """Both emulators got the same records (shape and JSON types), parameters and auth."""
    our_records, their_records = _align(_shape(_records(ours)), _shape(_records(theirs)))
    assert our_records == their_records
    assert sorted(r.path for r in ours.requests) == sorted(r.path for r in theirs.requests)
    for path in {r.path for r in ours.requests}:
        [our_request] = ours.to(path)
        [their_request] = theirs.to(path)
        assert (our_request.method, our_request.auth) == (their_request.method, their_request.auth)
        if path == "/import":  # the library sends verbose/ip there too; strict=1 is ours
            assert our_request.query.get("project_id") == their_request.query.get("project_id")
        else:
            assert _params(our_request) == _params(their_request) == {"verbose": "1", "ip": "0"}
        assert their_request.encoding == "form"
        assert our_request.encoding == "json"


async def reference(api: Emulator, calls: Callable[[mp.Mixpanel], None], **consumer: Any) -> None:
    """Make the library ``calls`` through a BufferedConsumer pointed at ``api``, and flush."""

    def work() -> None:
        buffered = mp.BufferedConsumer(
            events_url=f"{api.url}/track",
            people_url=f"{api.url}/engage",
            import_url=f"{api.url}/import",
            **consumer,
        )
        try:
            calls(mp.Mixpanel(TOKEN, consumer=buffered))
            buffered.flush()
        finally:
            buffered._consumer._session.close()

    await anyio.to_thread.run_sync(work)


async def test_track(mixpanel_api: Emulator, reference_api: Emulator) -> None:
    """A track is the event Mixpanel.track() sends, with the same properties and types."""
    await run(
        [mixpanel(mixpanel_api)],
        [("track", {"user_id": "u1", "event": "Signed Up", "properties": PROPERTIES})],
    )
    await reference(
        reference_api, lambda m: m.track("u1", "Signed Up", {**PROPERTIES, **EXTENSIONS})
    )
    assert_same_layout(mixpanel_api, reference_api)


async def test_import_with_the_secret(mixpanel_api: Emulator, reference_api: Emulator) -> None:
    """An old event is what Mixpanel.import_data() sends with the project secret."""
    await run(
        [mixpanel(mixpanel_api, api_secret="SECRET")],
        [("track", {"user_id": "u1", "event": "Paid", "properties": PROPERTIES, "timestamp": OLD})],
    )
    await reference(
        reference_api,
        lambda m: m.import_data(
            None, "u1", "Paid", OLD_SECONDS, {**PROPERTIES, **EXTENSIONS}, api_secret="SECRET"
        ),
    )
    assert_same_layout(mixpanel_api, reference_api)
    assert mixpanel_api.to("/import")[0].auth == ("SECRET", "")


async def test_import_with_a_service_account(
    mixpanel_api: Emulator, reference_api: Emulator
) -> None:
    """With a service account, auth and project_id are what the library's credentials send."""
    await run(
        [mixpanel(mixpanel_api, service_account=SERVICE_ACCOUNT)],
        [("track", {"user_id": "u1", "event": "Paid", "timestamp": OLD})],
    )
    credentials = mp.ServiceAccountCredentials("sa", "sa-secret", "123")
    await reference(
        reference_api,
        lambda m: m.import_data(None, "u1", "Paid", OLD_SECONDS, EXTENSIONS),
        credentials=credentials,
    )
    assert_same_layout(mixpanel_api, reference_api)
    assert mixpanel_api.to("/import")[0].query["project_id"] == "123"


async def test_identify(mixpanel_api: Emulator, reference_api: Emulator) -> None:
    """An identify is people_set() then people_union() of $ios_devices, in one batch."""
    traits = {"email": "a@b.c", "plan": "pro", "address": {"city": "Paris"}, "logins": 3}
    await run(
        [mixpanel(mixpanel_api, people=True)],
        [
            (
                "identify",
                {"user_id": "u1", "traits": traits, "context": {"device": {"token": "apns"}}},
            )
        ],
    )

    def calls(m: mp.Mixpanel) -> None:
        mapped = {"$email": "a@b.c", "plan": "pro", "address": '{"city":"Paris"}', "logins": 3}
        m.people_set("u1", mapped, meta=PROFILE_META)
        m.people_union("u1", {"$ios_devices": ["apns"]}, meta=PROFILE_META)

    await reference(reference_api, calls)
    assert_same_layout(mixpanel_api, reference_api)


async def test_increment_and_charge(mixpanel_api: Emulator, reference_api: Emulator) -> None:
    """Increments and revenue are people_increment(), people_set() and people_track_charge()."""
    await run(
        [mixpanel(mixpanel_api, people=True, event_increments=["Paid"])],
        [("track", {"user_id": "u1", "event": "Paid", "properties": {"revenue": 25.5}})],
    )

    def calls(m: mp.Mixpanel) -> None:
        m.track("u1", "Paid", {"revenue": 25.5, **EXTENSIONS})
        m.people_increment("u1", {"Paid": 1})
        m.people_set("u1", {"Last Paid": AT_DATE})
        m.people_track_charge("u1", 25.5, {"$time": AT_DATE})

    await reference(reference_api, calls)
    assert_same_layout(mixpanel_api, reference_api)


async def test_alias(
    mixpanel_api: Emulator, reference_api: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alias is exactly the $create_alias event Mixpanel.alias() sends."""
    await run([mixpanel(mixpanel_api)], [("alias", {"user_id": "u1", "previous_id": "a1"})])
    # Mixpanel.alias() always sends through a new default Consumer: aim that one at the
    # emulator too, and close what it opened.
    opened: list[mp.Consumer] = []

    class LocalConsumer(mp.Consumer):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if not (args or kwargs):
                kwargs = {"events_url": f"{reference_api.url}/track"}
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(mp, "Consumer", LocalConsumer)
    try:
        await reference(reference_api, lambda m: m.alias("u1", "a1"))
    finally:
        for consumer in opened:
            consumer._session.close()
    assert _records(mixpanel_api) == _records(reference_api)
    assert _params(mixpanel_api.requests[0]) == _params(reference_api.requests[0])
