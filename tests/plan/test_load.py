"""Reading plans: Segment's two export shapes, our own format in JSON and YAML, and errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from aioanalytics import AnalyticsError
from aioanalytics.plan import PlanError, load_plan, parse_plan

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "tracking_plan" / "plan.yaml"

ORDER_RULES = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "properties": {
            "type": "object",
            "properties": {"revenue": {"type": "number"}},
            "required": ["revenue"],
        },
        "context": {"type": "object", "properties": {"locale": {"type": "string"}}},
    },
    "required": ["properties"],
}


def test_segment_config_api_export() -> None:
    """``{"rules": {"events": [...], "identify_traits", "group_traits"}}``, the highest
    version of an event winning."""
    plan = load_plan(
        {
            "tracking_plan": {
                "display_name": "Shop",
                "rules": {
                    "events": [
                        {"name": "Order Completed", "version": 2, "rules": ORDER_RULES},
                        {"name": "Order Completed", "version": 1, "rules": {}},
                    ],
                    "identify_traits": {"properties": {"email": {"type": "string"}}},
                },
            }
        }
    )
    assert plan.name == "Shop"
    assert list(plan.events) == ["Order Completed"]
    assert plan.events["Order Completed"].version == 2
    assert plan.identify is not None and plan.group is None
    bad = {"type": "track", "event": "Order Completed", "properties": {}, "context": {}}
    assert [str(v) for v in plan.check(bad)] == ["properties.revenue: Field required"]
    # context is filled in by libraries: keys the plan does not name are allowed there.
    ok = {
        "type": "track",
        "event": "Order Completed",
        "properties": {"revenue": 1},
        "context": {"library": {"name": "aioanalytics"}, "locale": "fr-FR"},
    }
    assert plan.check(ok) == []
    assert [str(v) for v in plan.check({**ok, "context": {"locale": 5}})] == [
        "context.locale: Input should be a valid string (got 5)"
    ]


def test_segment_public_api_rules() -> None:
    """``{"data": {"rules": [{"type": "TRACK", "key", "version", "jsonSchema"}]}}``, with
    IDENTIFY, GROUP and COMMON rules."""
    traits = {"type": "object", "properties": {"traits": {"type": "object", "properties": {}}}}
    plan = parse_plan(
        {
            "data": {
                "rules": [
                    {
                        "type": "TRACK",
                        "key": "Order Completed",
                        "version": 1,
                        "jsonSchema": ORDER_RULES,
                    },
                    {"type": "IDENTIFY", "version": 1, "jsonSchema": traits},
                    {"type": "GROUP", "version": 1, "jsonSchema": traits},
                    {
                        "type": "COMMON",
                        "version": 1,
                        "jsonSchema": {
                            "type": "object",
                            "properties": {
                                "context": {
                                    "type": "object",
                                    "properties": {"app": {"type": "object"}},
                                    "required": ["app"],
                                }
                            },
                        },
                    },
                ]
            }
        }
    )
    assert list(plan.events) == ["Order Completed"]
    assert [
        str(v) for v in plan.check({"type": "identify", "traits": {"x": 1}, "context": {}})
    ] == [
        "context.app: Field required",
        "traits.x: Extra inputs are not permitted (got 1)",
    ]
    assert plan.covers("page")  # the COMMON rule applies to every message


def test_own_format_in_json(tmp_path: Path) -> None:
    """Our own format: events by name, ``required: true`` on a property, nested too."""
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps(
            {
                "events": {
                    "Signed Up": {
                        "description": "A visitor created an account.",
                        "properties": {
                            "plan": {"enum": ["free", "pro"], "required": True},
                            "address": {
                                "type": "object",
                                "properties": {"zip": {"type": "string", "required": True}},
                            },
                        },
                    },
                    "Logged Out": None,
                }
            }
        )
    )
    plan = load_plan(path)
    assert plan.name == "plan"
    assert plan.events["Signed Up"].description == "A visitor created an account."
    message = {"type": "track", "event": "Signed Up", "properties": {"address": {}}}
    assert [str(v) for v in plan.check(message)] == [
        "properties.plan: Field required",
        "properties.address.zip: Field required",
    ]
    assert plan.check({"type": "track", "event": "Logged Out"}) == []
    assert [
        str(v) for v in plan.check({"type": "track", "event": "Logged Out", "properties": {"a": 1}})
    ] == ["properties.a: Extra inputs are not permitted (got 1)"]


def test_own_format_in_yaml() -> None:
    """The example plan is YAML; it loads with every event and both trait sets."""
    pytest.importorskip("yaml")
    plan = load_plan(EXAMPLE)
    assert plan.name == "Shop"
    assert sorted(plan.events) == ["Order Completed", "Product Viewed", "Signed Up"]
    assert plan.identify is not None and plan.group is not None
    assert plan.unsupported == ()


def test_yaml_without_pyyaml_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading YAML without PyYAML says which extra to install."""
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes "import yaml" fail
    path = tmp_path / "plan.yaml"
    path.write_text("events: {}\n")
    with pytest.raises(PlanError, match=r"aioanalytics\[plan\]"):
        load_plan(path)


@pytest.mark.parametrize(
    ("content", "suffix", "match"),
    [
        ("{not json", ".json", "is not valid JSON"),
        ("events: [unclosed", ".yaml", "is not valid YAML"),
        ("[1, 2]", ".json", "must hold an object"),
        ('{"something": 1}', ".json", "not a tracking plan"),
        ('{"events": {"A": {"props": {}}}}', ".json", "unknown key 'props'"),
        ('{"events": {}, "identity": {}}', ".json", "unknown key 'identity'"),
        ('{"rules": {"events": [{"rules": {}}]}}', ".json", "must be an object with a name"),
        ('{"rules": [{"type": "PAGE"}]}', ".json", "type is one of"),
        ('{"rules": [{"type": "TRACK"}]}', ".json", "needs a key"),
    ],
)
def test_unreadable_plans_raise_plan_error(
    tmp_path: Path, content: str, suffix: str, match: str
) -> None:
    """A plan that cannot be read raises PlanError (an AnalyticsError and ValueError)."""
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    path = tmp_path / f"plan{suffix}"
    path.write_text(content)
    with pytest.raises(PlanError, match=match) as caught:
        load_plan(path)
    assert isinstance(caught.value, AnalyticsError) and isinstance(caught.value, ValueError)


def test_missing_file_raises_plan_error(tmp_path: Path) -> None:
    """A plan file that does not exist is a PlanError naming it."""
    with pytest.raises(PlanError, match="cannot read the tracking plan"):
        load_plan(tmp_path / "nope.json")


def test_rules_for_other_parts_of_the_message_are_reported() -> None:
    """A rule on a top-level field other than properties, traits or context is reported."""
    plan = parse_plan(
        {
            "rules": {
                "events": [{"name": "A", "rules": {"properties": {"userId": {"type": "string"}}}}]
            }
        }
    )
    assert [str(issue) for issue in plan.unsupported] == [
        "A.properties: 'userId' is not a part of the message a plan checks: not checked"
    ]
    assert repr(plan) == "<TrackingPlan 1 events>"


def test_common_rules_label_track_violations_with_the_event() -> None:
    """A violation of the common rules by a track names its event."""
    plan = parse_plan(
        {
            "rules": [
                {"type": "TRACK", "key": "A", "jsonSchema": {}},
                {
                    "type": "COMMON",
                    "jsonSchema": {
                        "properties": {"context": {"type": "object", "required": ["app"]}}
                    },
                },
            ]
        }
    )
    [violation] = plan.check({"type": "track", "event": "A", "context": {}})
    assert (violation.event, violation.path) == ("A", "context.app")
