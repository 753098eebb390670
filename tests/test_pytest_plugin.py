"""The pytest plugin, run in pytest sessions of its own (``pytester``), as users run it.

Each test writes a small test suite and runs it under pytest-asyncio (in every loop scope)
or anyio's plugin, then checks the outcomes. The plugin arrives through the ``pytest11``
entry point when the package is installed with it; otherwise it is loaded with ``-p``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from importlib.metadata import entry_points
from unittest.mock import ANY

import pytest

from aioanalytics import Track
from aioanalytics.testing import Recorder

pytest.importorskip("pytest_asyncio")

_INI = """
[pytest]
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""


def _registered() -> bool:
    return any(ep.value == "aioanalytics.pytest_plugin" for ep in entry_points(group="pytest11"))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    plugin = []
    if not _registered():  # a source tree never installed: load the plugin by name
        rewrite = "ignore::pytest.PytestAssertRewriteWarning"  # this session imported it
        plugin = ["-p", "aioanalytics.pytest_plugin", "-W", rewrite]
    # Other installed plugins are switched off: they only slow the inner sessions down.
    quiet = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark"]
    return pytester.runpytest(*plugin, *quiet, *args)


def test_plugin_is_registered_through_the_pytest11_entry_point() -> None:
    """Installing the package registers the plugin: no ``-p`` or ``pytest_plugins`` needed."""
    assert _registered()


SUITE = """
import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="{scope}")


@pytest_asyncio.fixture(loop_scope="{scope}")
async def signed_up(analytics_recorder):
    await analytics_recorder.client.track(user_id="u0", event="Fixture Event")
    return analytics_recorder


async def test_records_at_the_call(analytics_recorder):
    await analytics_recorder.client.track(
        user_id="u1", event="Signed Up", properties={{"plan": "pro"}}
    )
    analytics_recorder.assert_tracked("Signed Up", user_id="u1", properties={{"plan": "pro"}})


async def test_delivery_resolves(analytics_recorder):
    delivery = await analytics_recorder.client.identify(user_id="u2", traits={{"a": 1}})
    assert (await delivery).destinations == {{"Segment": "skipped"}}
    analytics_recorder.assert_identified("u2", traits={{"a": 1}})


async def test_fixture_and_test_share_the_client(signed_up):
    await signed_up.client.track(user_id="u0", event="Test Event")
    assert signed_up.events == ["Fixture Event", "Test Event"]


async def test_each_test_starts_empty(analytics_recorder):
    analytics_recorder.assert_nothing_sent()

"""


@pytest.mark.parametrize("scope", ["function", "module", "session"])
def test_fixture_under_pytest_asyncio_in_every_loop_scope(
    pytester: pytest.Pytester, scope: str
) -> None:
    """The fixture works under pytest-asyncio whatever the loop scope of tests and fixtures."""
    pytester.makeini(_INI.format(mode="strict"))
    pytester.makepyfile(SUITE.format(scope=scope))
    result = run(pytester)
    result.assert_outcomes(passed=4)


def test_fixture_under_pytest_asyncio_auto_mode(pytester: pytest.Pytester) -> None:
    """In pytest-asyncio's auto mode plain ``async def`` tests get a working client."""
    pytester.makeini(_INI.format(mode="auto"))
    pytester.makepyfile(
        """
        async def test_auto(analytics_recorder):
            await analytics_recorder.client.page(user_id="u", name="Home")
            analytics_recorder.assert_paged("Home", user_id="u")
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_fixture_under_anyio_plugin(pytester: pytest.Pytester) -> None:
    """Under anyio's pytest plugin the client opens on anyio's event loop."""
    pytester.makeini(_INI.format(mode="strict"))
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.anyio


        @pytest.fixture
        def anyio_backend():
            return "asyncio"


        @pytest.fixture
        async def grouped(analytics_recorder):
            await analytics_recorder.client.group(user_id="u", group_id="g1")
            return analytics_recorder


        async def test_track(analytics_recorder):
            await analytics_recorder.client.track(user_id="u", event="Anyio")
            analytics_recorder.assert_tracked("Anyio", user_id="u", times=1)


        async def test_async_fixture(grouped):
            grouped.assert_grouped("g1", user_id="u")
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_failure_shows_the_closest_message_with_a_diff(pytester: pytest.Pytester) -> None:
    """A failed assertion names what was expected and diffs it against the closest message."""
    pytester.makeini(_INI.format(mode="auto"))
    pytester.makepyfile(
        """
        async def test_wrong_plan(analytics_recorder):
            await analytics_recorder.client.track(
                user_id="u1", event="Signed Up", properties={"plan": "free", "seats": 3}
            )
            analytics_recorder.assert_tracked(
                "Signed Up", user_id="u1", properties={"plan": "pro", "seats": 3}
            )
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no track 'Signed Up' with user_id='u1', properties=*was recorded",
            "*closest: message #1, track 'Signed Up' user_id='u1'*",
            "*properties differ (- expected, + recorded):",
            "*- 'plan': 'pro'",
            "*+ 'plan': 'free'",
            "*'seats': 3",
        ]
    )


def test_analytics_options_configure_the_client(pytester: pytest.Pytester) -> None:
    """Overriding ``analytics_options`` configures the client; ``send=True`` uses the transport."""
    pytester.makeini(_INI.format(mode="auto"))
    pytester.makeconftest(
        """
        import pytest


        def add_tenant(message):
            message.setdefault("context", {})["tenant"] = "acme"
            return message


        @pytest.fixture
        def analytics_options():
            return {"plugins": [add_tenant], "send": True, "max_retries": 0}
        """
    )
    pytester.makepyfile(
        """
        import pytest

        from aioanalytics import DeliveryError


        async def test_enriched_and_delivered(analytics_recorder):
            delivery = await analytics_recorder.client.track(user_id="u", event="E")
            assert (await delivery).destinations == {"Segment": "delivered"}
            analytics_recorder.assert_tracked("E", context={"tenant": "acme"})
            assert [m["event"] for m in analytics_recorder.transport.messages] == ["E"]


        async def test_scripted_failure(analytics_recorder):
            analytics_recorder.transport.answers.append(400)
            with pytest.raises(DeliveryError):
                await (await analytics_recorder.client.track(user_id="u1", event="Boom"))
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_sync_test_can_use_the_recorder_without_a_loop(pytester: pytest.Pytester) -> None:
    """A synchronous test may request the fixture; it starts nothing until used."""
    pytester.makeini(_INI.format(mode="strict"))
    pytester.makepyfile(
        """
        def test_sync(analytics_recorder):
            analytics_recorder.assert_nothing_sent()
            assert analytics_recorder.messages == []
        """
    )
    run(pytester).assert_outcomes(passed=1)


# -- the Recorder itself, driven directly ------------------------------------------------------


async def test_recorder_lists_messages_by_kind() -> None:
    """Every call is recorded as its model, in order, and listed by kind."""
    recorder = Recorder()
    client = recorder.client
    await client.identify(user_id="u", traits={"email": "a@example.com"})
    await client.track(user_id="u", event="One")
    await client.page(user_id="u", name="Home")
    await client.screen(user_id="u", name="Welcome")
    await client.group(user_id="u", group_id="g")
    await client.alias(user_id="u", previous_id="a")
    await client.enqueue(Track(user_id="u", event="Two"))
    await client.flush()
    assert [m.type for m in recorder.messages] == [
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
        "track",
    ]
    assert recorder.events == ["One", "Two"]
    assert len(recorder.identifies) == len(recorder.pages) == len(recorder.screens) == 1
    assert len(recorder.groups) == len(recorder.aliases) == 1
    assert repr(recorder) == "<Recorder 7 messages>"
    recorder.clear()
    recorder.assert_nothing_sent()
    await recorder.aclose()


async def test_assertions_match_in_json_form_partially_and_with_any() -> None:
    """Expected values compare as JSON; ``partial`` checks a subset; ``ANY`` matches anything."""
    recorder = Recorder()
    when = datetime(2024, 3, 15, 11, 59, 30, tzinfo=UTC)
    await recorder.client.track(
        user_id="u", event="Paid", properties={"at": when, "amount": 9.5, "plan": "pro"}
    )
    found = recorder.assert_tracked(
        "Paid", properties={"at": when, "amount": 9.5, "plan": "pro"}, times=1
    )
    assert found.properties == {"at": "2024-03-15T11:59:30.000Z", "amount": 9.5, "plan": "pro"}
    recorder.assert_tracked("Paid", properties={"plan": "pro"}, partial=True)
    recorder.assert_tracked("Paid", properties={"at": ANY, "amount": ANY, "plan": "pro"})
    recorder.assert_not_tracked("Paid", user_id="someone else")
    with pytest.raises(AssertionError, match="missing keys \\['seats'\\]"):
        recorder.assert_tracked("Paid", properties={"seats": 1}, partial=True)
    with pytest.raises(AssertionError, match="expected no track 'Paid'"):
        recorder.assert_not_tracked("Paid")
    with pytest.raises(AssertionError, match="expected 2 track 'Paid'"):
        recorder.assert_tracked("Paid", times=2)
    with pytest.raises(AssertionError, match="expected no messages, but 1 were recorded"):
        recorder.assert_nothing_sent()


async def test_each_assertion_reports_what_it_looked_for() -> None:
    """Each ``assert_*`` helper finds its kind and explains a miss with the recorded list."""
    recorder = Recorder()
    client = recorder.client
    with pytest.raises(AssertionError, match="nothing at all was recorded"):
        recorder.assert_tracked("Anything")
    await client.identify(user_id="u", traits={"plan": "pro"})
    await client.page(user_id="u", name="Home", category="Docs")
    await client.screen(user_id="u", name="Welcome")
    await client.group(user_id="u", group_id="g", traits={"name": "Acme"})
    await client.alias(user_id="u", previous_id="a")
    recorder.assert_identified("u", traits={"plan": "pro"}, context={})
    recorder.assert_paged("Home", category="Docs", user_id="u")
    recorder.assert_screened("Welcome", user_id="u")
    recorder.assert_grouped("g", traits={"name": "Acme"})
    recorder.assert_aliased("a", user_id="u")
    with pytest.raises(AssertionError) as info:
        recorder.assert_screened("Settings")
    message = str(info.value)
    assert "no screen message with name='Settings' was recorded" in message
    assert "name: expected 'Settings', got 'Welcome'" in message
    assert "#3 screen 'Welcome' user_id='u'" in message
    with pytest.raises(AssertionError, match="no track message was recorded at all"):
        recorder.assert_tracked("Missing")
    await recorder.aclose()


async def test_recorder_client_opens_once_and_tolerates_async_with() -> None:
    """An app may ``async with`` the recorder's client itself; opening again is harmless."""
    recorder = Recorder()
    async with recorder.client as client:
        await client.open()
        await client.track(user_id="u", event="Inside")
    recorder.assert_tracked("Inside")
    recorder.close()  # already closed, loop running: nothing to do


def test_close_runs_on_an_idle_loop_and_skips_a_closed_one() -> None:
    """``close()`` finishes the client on its loop when usable, and is a no-op otherwise."""
    loop = asyncio.new_event_loop()
    try:
        recorder = Recorder()
        loop.run_until_complete(recorder.client.track(user_id="u", event="E"))
        recorder.close()
        assert "closed" in repr(recorder.client)
    finally:
        loop.close()
    gone = Recorder()
    closed_loop = asyncio.new_event_loop()
    closed_loop.run_until_complete(gone.client.track(user_id="u", event="E"))
    closed_loop.run_until_complete(gone.client.aclose())
    closed_loop.close()
    gone.close()
    Recorder().close()  # never opened
