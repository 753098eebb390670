"""Generated modules: up to date in examples/, clean under ruff and mypy --strict, typed
so that mypy rejects a wrong property type or an unknown event, and correct at run time."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pydantic
import pytest

from aioanalytics import Analytics, MemoryTransport
from aioanalytics import sync as sync_api
from aioanalytics.plan import PlanError, generate_module, load_plan, parse_plan

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parent.parent.parent
EXAMPLE_DIR = ROOT / "examples" / "tracking_plan"
PLAN_PATH = "examples/tracking_plan/plan.yaml"
MODULE_PATH = "examples/tracking_plan/events.py"
SOURCE = f"aioanalytics plan generate {PLAN_PATH} -o {MODULE_PATH}"

#: A plan that pushes the generator: odd names, long enums, every format, nesting.
STRESS: dict[str, Any] = {
    "rules": {
        "events": [
            {
                "name": "Checkout Step Viewed (v2)",
                "description": 'Said "hello" \\ with a backslash and """ quotes.',
                "rules": {
                    "type": "object",
                    "properties": {
                        "properties": {
                            "type": "object",
                            "properties": {
                                "Order ID": {"type": "string", "description": "The id."},
                                "orderTotal": {"type": "number", "exclusiveMinimum": 0},
                                "class": {"type": "string"},
                                "timestamp": {"type": "string", "format": "date-time"},
                                "json": {"type": "boolean"},
                                "country": {
                                    "type": "string",
                                    "enum": [f"COUNTRY_{i:03d}" for i in range(30)],
                                },
                                "site": {"type": "string", "format": "uri"},
                                "contact": {"type": "string", "format": "email"},
                                "ref": {"type": "string", "format": "uuid"},
                                "day": {"type": "string", "format": "date"},
                                "tags": {
                                    "type": "array",
                                    "items": {"type": "string", "pattern": "^[a-z]+$"},
                                    "uniqueItems": True,
                                    "maxItems": 10,
                                },
                                "meta": {"type": "object"},
                                "scores": {
                                    "type": "object",
                                    "additionalProperties": {"type": "integer"},
                                },
                                "maybe": {"type": ["integer", "string", "null"]},
                                "anything": {},
                            },
                            "required": ["Order ID", "class"],
                        }
                    },
                },
            },
            {"name": "app opened", "rules": {}},
        ]
    }
}


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    pytest.importorskip("yaml")
    return load_module(EXAMPLE_DIR / "events.py", "tracking_plan_events")


def test_example_module_is_up_to_date() -> None:
    """examples/tracking_plan/events.py is exactly what its plan generates today."""
    pytest.importorskip("yaml")
    plan = load_plan(ROOT / PLAN_PATH)
    expected = generate_module(plan, source=SOURCE)
    actual = (ROOT / MODULE_PATH).read_text(encoding="utf-8")
    assert actual == expected, f"regenerate it: {SOURCE}"


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (it is in the tests dependency group)")
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the example's module and the stress plan's module."""
    pytest.importorskip("yaml")
    folder = tmp_path_factory.mktemp("generated")
    shutil.copy(EXAMPLE_DIR / "events.py", folder / "events.py")
    (folder / "stress.py").write_text(generate_module(parse_plan(STRESS)))
    return folder


@pytest.mark.parametrize("line_length", [88, 100, 120])
def test_generated_code_passes_ruff(generated: Path, line_length: int) -> None:
    """ruff check and ruff format --check pass, whatever the line length (from 88)."""
    ruff = _tool("ruff")
    for command in (["check"], ["format", "--check", "--diff"]):
        result = subprocess.run(
            [ruff, *command, "--isolated", f"--line-length={line_length}", "."],
            cwd=generated,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    # and with this project's rules (isort, pyupgrade, bugbear...)
    result = subprocess.run(
        [ruff, "check", "--config", str(ROOT / "pyproject.toml"), "."],
        cwd=generated,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


GOOD_USE = """
from __future__ import annotations

from datetime import UTC, datetime

from aioanalytics import Analytics, DeliveryResult
from aioanalytics.sync import Analytics as SyncAnalytics
from events import OrderCompletedProductsItem, track_order_completed, track_order_completed_sync


async def send(analytics: Analytics, blocking: SyncAnalytics) -> DeliveryResult:
    delivery = await track_order_completed(
        analytics,
        user_id="u1",
        order_id="o1",
        revenue=39.95,
        currency="EUR",
        completed_at=datetime.now(UTC),
        products=[OrderCompletedProductsItem(product_id="p1", quantity=2)],
    )
    track_order_completed_sync(blocking, user_id="u1", order_id="o2", revenue=10).result()
    return await delivery
"""

BAD_USE = """
from __future__ import annotations

from aioanalytics import Analytics
from events import track_order_completed
import events


async def send(analytics: Analytics) -> None:
    await track_order_completed(analytics, user_id="u1", order_id="o1", revenue="39.95")
    await track_order_completed(analytics, user_id="u1", order_id="o1", revenue=1, currency="usd")
    await track_order_completed(analytics, user_id="u1", revenue=1)
    await events.track_order_complete(analytics, user_id="u1", order_id="o1", revenue=1)
"""


@pytest.mark.parametrize("plugin", [False, True], ids=["plain", "pydantic-plugin"])
def test_mypy_strict_accepts_the_module_and_rejects_mistakes(
    generated: Path, tmp_path: Path, plugin: bool
) -> None:
    """mypy --strict passes the generated modules and correct use of them, and flags a wrong
    property type, a value outside an enum, a missing required property and an unknown
    event in user code."""
    mypy = _tool("mypy")
    for name in ("events.py", "stress.py"):
        shutil.copy(generated / name, tmp_path / name)
    (tmp_path / "good.py").write_text(textwrap.dedent(GOOD_USE))
    (tmp_path / "bad.py").write_text(textwrap.dedent(BAD_USE))
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n" + ("plugins = pydantic.mypy\n" if plugin else ""))
    result = subprocess.run(
        [mypy, "--config-file", str(config), "--cache-dir", str(tmp_path / ".cache"), "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert all(line.startswith("bad.py:") for line in errors), result.stdout
    by_line = {int(line.split(":")[1]) for line in errors}
    assert by_line == {10, 11, 12, 13}, result.stdout
    text = result.stdout
    assert re.search(r'bad.py:10: error: Argument "revenue" .* "str"; expected "float"', text)
    assert re.search(r'bad.py:11: error: Argument "currency" .* "Literal\[.*\] \| None"', text)
    assert re.search(r'bad.py:12: error: Missing named argument "order_id"', text)
    assert re.search(r'bad.py:13: error: Module has no attribute "track_order_complete"', text)


async def test_generated_functions_send_the_planned_message(example: ModuleType) -> None:
    """The async function sends the event with its properties as JSON values, leaving
    out optional ones not given; the models refuse what the plan refuses."""
    transport = MemoryTransport()
    async with Analytics("key", transport=transport) as analytics:
        delivery = await example.track_order_completed(
            analytics,
            user_id="u1",
            order_id="o1",
            revenue=39.95,
            completed_at=datetime(2024, 3, 15, 13, 0, tzinfo=timezone(timedelta(hours=2))),
            products=[example.OrderCompletedProductsItem(product_id="p1", quantity=2)],
        )
        await delivery
        await example.identify(analytics, user_id="u1", email="ada@example.com")
        await example.group(analytics, user_id="u1", group_id="g1", name="Acme")
        with pytest.raises(pydantic.ValidationError, match="revenue"):
            await example.track_order_completed(
                analytics, user_id="u1", order_id="o1", revenue="39.95"
            )
        with pytest.raises(pydantic.ValidationError, match="email"):
            await example.identify(analytics, user_id="u1", email="nope")
        with pytest.raises(pydantic.ValidationError, match="timezone"):
            await example.track_order_completed(
                analytics, user_id="u1", order_id="o1", revenue=1, completed_at=datetime(2024, 1, 1)
            )
        await analytics.flush()
    track, identify, group = transport.messages
    assert track["event"] == "Order Completed"
    assert track["properties"] == {
        "order_id": "o1",
        "revenue": 39.95,
        "completed_at": "2024-03-15T13:00:00+02:00",
        "products": [{"product_id": "p1", "quantity": 2}],
    }
    assert identify["traits"] == {"email": "ada@example.com"}
    assert (group["groupId"], group["traits"]) == ("g1", {"name": "Acme"})
    # What the generated code sends keeps to the plan it came from.
    plan = load_plan(EXAMPLE_DIR / "plan.yaml")
    assert [plan.check(message) for message in transport.messages] == [[], [], []]


def test_generated_sync_twins(example: ModuleType) -> None:
    """The _sync functions do the same through aioanalytics.sync.Analytics."""
    transport = MemoryTransport()
    with sync_api.Analytics("key", transport=transport) as analytics:
        future = example.track_signed_up_sync(
            analytics, user_id="u1", plan="pro", referrer="https://example.com/"
        )
        assert future.result(timeout=10).destinations == {"Segment": "delivered"}
        example.identify_sync(analytics, user_id="u1", email="ada@example.com").result(10)
    assert [m.get("properties") or m.get("traits") for m in transport.messages] == [
        {"plan": "pro", "referrer": "https://example.com/"},
        {"email": "ada@example.com"},
    ]


async def test_stress_module_handles_odd_names(tmp_path: Path) -> None:
    """Names that are not identifiers, keywords, reserved argument names and model method
    names all work, and the JSON names are what is sent."""
    (tmp_path / "stress.py").write_text(generate_module(parse_plan(STRESS)))
    stress = load_module(tmp_path / "stress.py", "tracking_plan_stress")
    transport = MemoryTransport()
    async with Analytics("key", transport=transport) as analytics:
        await stress.track_checkout_step_viewed_v2(
            analytics,
            user_id="u1",
            order_id="o1",
            class_="gold",
            timestamp_=datetime(2024, 1, 1, tzinfo=UTC),
            json_=True,
            order_total=3.5,
            tags=["a", "b"],
            scores={"x": 1},
            maybe=None,
        )
        await stress.track_app_opened(analytics, anonymous_id="a1", properties={"any": 1})
        with pytest.raises(pydantic.ValidationError, match="unique"):
            await stress.track_checkout_step_viewed_v2(
                analytics, user_id="u1", order_id="o", class_="c", tags=["a", "a"]
            )
        await analytics.flush()
    first, second = transport.messages
    assert first["event"] == "Checkout Step Viewed (v2)"
    assert first["properties"] == {
        "Order ID": "o1",
        "class": "gold",
        "timestamp": "2024-01-01T00:00:00Z",
        "json": True,
        "orderTotal": 3.5,
        "tags": ["a", "b"],
        "scores": {"x": 1},
    }
    assert second["properties"] == {"any": 1}
    assert 'Said "hello"' in (stress.__doc__ or "") + (
        stress.track_checkout_step_viewed_v2.__doc__ or ""
    )


def test_clashing_event_names_are_an_error() -> None:
    """Two events that would get the same function name are refused with both names."""
    plan = parse_plan({"events": {"Order Completed": {}, "order_completed": {}}})
    with pytest.raises(PlanError, match="'Order Completed' and 'order_completed'"):
        generate_module(plan)


def test_unsupported_keywords_are_listed_in_the_module() -> None:
    """What the plan uses and aioanalytics does not check is listed in the module docstring."""
    plan = parse_plan({"events": {"A": {"properties": {"x": {"anyOf": [{}]}}}}})
    assert "A.properties.x: 'anyOf' is not supported" in generate_module(plan)
