"""JSON Schema features that real plans use, checked strictly against wire messages."""

from __future__ import annotations

from typing import Any

import pytest

from aioanalytics.plan import TrackingPlan, Violation, check_messages, parse_plan


def plan_of(properties: dict[str, Any], **rule: Any) -> TrackingPlan:
    """A plan in Segment's Config API shape with one event, "Order Completed"."""
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"properties": {"type": "object", "properties": properties, **rule}},
        "required": ["properties"],
    }
    return parse_plan({"rules": {"events": [{"name": "Order Completed", "rules": schema}]}})


def check(plan: TrackingPlan, properties: Any) -> list[str]:
    message = {"type": "track", "event": "Order Completed", "properties": properties}
    return [str(v) for v in plan.check(message)]


def test_a_conforming_message_has_no_violations() -> None:
    """A message that keeps to every rule passes."""
    plan = plan_of({"revenue": {"type": "number"}, "order_id": {"type": "string"}})
    assert check(plan, {"revenue": 39.95, "order_id": "o1"}) == []


def test_types_are_checked_without_coercion() -> None:
    """ "39.95" is not a number, 1 is not a string, true is not an integer; 3 is a number."""
    plan = plan_of(
        {
            "revenue": {"type": "number"},
            "order_id": {"type": "string"},
            "quantity": {"type": "integer"},
            "gift": {"type": "boolean"},
        }
    )
    assert check(plan, {"revenue": "39.95", "order_id": 1, "quantity": True, "gift": "yes"}) == [
        "properties.revenue: Input should be a valid number (got '39.95')",
        "properties.order_id: Input should be a valid string (got 1)",
        "properties.quantity: Input should be a valid integer (got True)",
        "properties.gift: Input should be a valid boolean (got 'yes')",
    ]
    assert check(plan, {"revenue": 3, "quantity": 2, "gift": False}) == []


def test_required_properties_and_unknown_ones() -> None:
    """A missing required property and a property the plan does not have are violations."""
    plan = plan_of({"order_id": {"type": "string"}}, required=["order_id"])
    assert check(plan, {"orderId": "o1"}) == [
        "properties.order_id: Field required",
        "properties.orderId: Extra inputs are not permitted (got 'o1')",
    ]


def test_additional_properties_true_allows_unknown_properties() -> None:
    """``additionalProperties: true`` lifts the default refusal of unplanned properties."""
    plan = plan_of({"order_id": {"type": "string"}}, additionalProperties=True)
    assert check(plan, {"order_id": "o1", "note": "x"}) == []


def test_missing_properties_object_is_reported_when_required() -> None:
    """A track without properties breaks a rule that requires them."""
    plan = plan_of({"order_id": {"type": "string"}})
    assert [str(v) for v in plan.check({"type": "track", "event": "Order Completed"})] == [
        "properties: Field required"
    ]


def test_enums_and_const() -> None:
    """enum and const allow exactly their values."""
    plan = plan_of({"currency": {"type": "string", "enum": ["USD", "EUR"]}, "v": {"const": 2}})
    assert check(plan, {"currency": "EUR", "v": 2}) == []
    assert check(plan, {"currency": "usd", "v": 3}) == [
        "properties.currency: Input should be 'USD' or 'EUR' (got 'usd')",
        "properties.v: Input should be 2 (got 3)",
    ]


def test_nested_objects_and_arrays_name_the_full_path() -> None:
    """A violation deep in a list of objects names its index and field."""
    plan = plan_of(
        {
            "products": {
                "type": "array",
                "minItems": 1,
                "maxItems": 2,
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string"},
                        "price": {"type": "number", "minimum": 0},
                    },
                    "required": ["sku"],
                },
            },
            "shipping": {
                "type": "object",
                "properties": {"address": {"type": "object", "properties": {"zip": {}}}},
            },
        }
    )
    problems = check(
        plan,
        {
            "products": [{"sku": "a", "price": 1}, {"price": -1, "colour": "red"}],
            "shipping": {"address": {"zip": 1, "city": "Paris"}},
        },
    )
    assert problems == [
        "properties.products[1].sku: Field required",
        "properties.products[1].price: Input should be greater than or equal to 0 (got -1)",
        "properties.products[1].colour: Extra inputs are not permitted (got 'red')",
        "properties.shipping.address.city: Extra inputs are not permitted (got 'Paris')",
    ]
    assert check(plan, {"products": []}) == [
        "properties.products: List should have at least 1 item after validation, not 0 (got [])"
    ]
    assert check(plan, {"products": [{"sku": "a"}] * 3})[0].startswith(
        "properties.products: List should have at most 2 items"
    )


def test_free_form_objects_accept_any_keys() -> None:
    """An object schema without ``properties`` (``{"type": "object"}``) is a free-form map."""
    plan = plan_of({"metadata": {"type": "object"}, "tags": {"type": "array"}})
    assert check(plan, {"metadata": {"any": [1, {"x": None}]}, "tags": [1, "a"]}) == []
    assert check(plan, {"metadata": [1]}) == [
        "properties.metadata: Input should be a valid dictionary (got [1])"
    ]


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date-time", "2024-03-15T11:59:30.123Z", "2024-03-15 11:59"),
        ("date-time", "2024-03-15T11:59:30+02:00", "2024-03-15T11:59:30"),
        ("date", "2024-02-29", "2023-02-29"),
        ("email", "ada@example.com", "ada@example"),
        ("uri", "https://example.com/a?b=c", "example.com/a"),
        ("uuid", "0b9e2d1c-61f4-4d44-9b8f-4c8f5d1a2b3c", "0b9e2d1c"),
    ],
)
def test_formats(fmt: str, good: str, bad: str) -> None:
    """date-time (RFC 3339, with an offset), date, email, uri and uuid are checked."""
    plan = plan_of({"value": {"type": "string", "format": fmt}})
    assert check(plan, {"value": good}) == []
    [problem] = check(plan, {"value": bad})
    assert problem.lower().startswith(f"properties.value: not a valid {fmt.split('-')[0]}")


def test_patterns_lengths_and_bounds() -> None:
    """pattern (searched, as JSON Schema says), min/maxLength, min/maximum, exclusive
    bounds (draft 4 and later) and multipleOf."""
    plan = plan_of(
        {
            "sku": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
            "code": {"type": "string", "pattern": "b+", "minLength": 2, "maxLength": 4},
            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
            "share": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "old": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            "step": {"type": "number", "multipleOf": 0.5},
        }
    )
    good = {"sku": "ABC-1234", "code": "abba", "rating": 5, "share": 0.5, "old": 1, "step": 1.5}
    assert check(plan, good) == []
    bad = {"sku": "abc-1234", "code": "a", "rating": 6, "share": 1, "old": 0, "step": 0.3}
    assert [problem.split(":")[0] for problem in check(plan, bad)] == [
        "properties.sku",
        "properties.code",
        "properties.rating",
        "properties.share",
        "properties.old",
        "properties.step",
    ]


def test_type_lists_allow_null() -> None:
    """``"type": ["string", "null"]`` accepts null; a non-null type does not."""
    plan = plan_of({"coupon": {"type": ["string", "null"]}, "note": {"type": "string"}})
    assert check(plan, {"coupon": None}) == []
    assert check(plan, {"coupon": 5, "note": None}) == [
        "properties.coupon: Input should be a valid string (got 5)",
        "properties.note: Input should be a valid string (got None)",
    ]


def test_unique_items() -> None:
    """uniqueItems refuses a list with the same item twice (true and 1 differ)."""
    plan = plan_of({"tags": {"type": "array", "uniqueItems": True}})
    assert check(plan, {"tags": [1, True, "1"]}) == []
    assert check(plan, {"tags": [{"a": 1}, {"a": 1}]}) == [
        "properties.tags: items must be unique (got [{'a': 1}, {'a': 1}])"
    ]


def test_unsupported_keywords_are_reported_with_their_path() -> None:
    """Keywords the check cannot enforce are listed, never silently ignored."""
    plan = plan_of(
        {
            "choice": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            "host": {"type": "string", "format": "hostname"},
            "n": {"type": "integer", "minLength": 2},
            "pair": {"type": "array", "items": [{"type": "string"}]},
            "ref": {"$ref": "#/definitions/x"},
        },
        patternProperties={"^x": {}},
    )
    assert [str(issue) for issue in plan.unsupported] == [
        "Order Completed.properties.choice: 'oneOf' is not supported: not checked",
        "Order Completed.properties.host: 'format' 'hostname' is not supported: not checked",
        "Order Completed.properties.n: 'minLength' applies to string values, not to integer",
        (
            "Order Completed.properties.pair.items: 'items' as a list (tuple validation) is "
            "not supported"
        ),
        "Order Completed.properties.ref: '$ref' is not supported: not checked",
        "Order Completed.properties: 'patternProperties' is not supported: not checked",
    ]
    # What is understood is still checked.
    assert check(plan, {"n": "x"}) == ["properties.n: Input should be a valid integer (got 'x')"]


def test_unplanned_event_suggests_the_closest_name() -> None:
    """A track of an event the plan lacks is a violation; a near miss names the planned one."""
    plan = plan_of({})
    [violation] = plan.check({"type": "track", "event": "Order Complete", "properties": {}})
    assert violation == Violation(
        "Order Complete",
        "event",
        'not in the tracking plan (did you mean "Order Completed"?)',
        "unplanned_event",
    )
    [far] = plan.check({"type": "track", "event": "Signed Up"})
    assert str(far) == "event: not in the tracking plan"


def test_identify_and_group_traits() -> None:
    """identify_traits and group_traits check the traits of identify and group calls."""
    traits = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}
    plan = parse_plan(
        {
            "rules": {
                "events": [],
                "identify_traits": traits,
                "group_traits": {
                    "type": "object",
                    "properties": {"traits": {**traits, "required": ["email"]}},
                    "required": ["traits"],
                },
            }
        }
    )
    assert plan.check({"type": "identify", "traits": {"email": "a@b.co"}}) == []
    assert [str(v) for v in plan.check({"type": "identify", "traits": {"email": "x"}})] == [
        "traits.email: not a valid email address (got 'x')"
    ]
    assert [str(v) for v in plan.check({"type": "group", "traits": {}})] == [
        "traits.email: Field required"
    ]
    assert plan.check({"type": "page", "name": "Home"}) == []
    assert not plan.covers("page") and plan.covers("identify")


def test_check_messages_counts_per_event_and_property() -> None:
    """The report groups violations by event, property (list indices folded) and reason."""
    plan = plan_of({"revenue": {"type": "number"}, "items": {"type": "array", "items": {}}})
    lines = [
        '{"type": "track", "event": "Order Completed", "properties": {"revenue": "1"}}',
        '{"type": "track", "event": "Order Completed", "properties": {"revenue": "2"}}',
        '{"type": "track", "event": "Order Completed", "properties": {"revenue": 3}}',
        '{"batch": [{"type": "track", "event": "Order Complete"}, {"type": "page"}]}',
        "",
        "not json",
        '["a list"]',
    ]
    report = check_messages(plan, lines)
    assert (report.messages, report.checked, report.violating) == (5, 4, 3)
    assert report.unchecked == {"page": 1}
    assert [n for n, _ in report.unreadable] == [6, 7]
    assert report.rows() == [
        ("Order Completed", "properties.revenue", "Input should be a valid number", 2),
        (
            "Order Complete",
            "event",
            'not in the tracking plan (did you mean "Order Completed"?)',
            1,
        ),
    ]
    assert report.examples[("Order Completed", "properties.revenue", report.rows()[0][2])] == "'1'"
    assert not report.ok
    assert report.to_json()["violations"][0]["count"] == 2


def test_malformed_keyword_values_are_reported() -> None:
    """Keyword values a schema cannot have are reported, and the rest is still checked."""
    plan = plan_of(
        {
            "a": {"type": 5},
            "b": {"type": "text"},
            "c": {"enum": []},
            "d": {"enum": [1.5, "x"]},
            "e": {"type": "string", "pattern": "("},
            "f": {"type": "number", "minimum": "0"},
            "g": {"type": "array", "minItems": "1"},
            "h": {"type": "object", "properties": [], "required": "x"},
            "i": {"type": "object", "additionalProperties": 3},
            "j": {
                "type": "object",
                "properties": {"k": {}},
                "additionalProperties": {"type": "string"},
            },
            "l": 7,
            "m": {"type": "number", "maximum": 10, "exclusiveMaximum": True},
        }
    )
    assert [f"{i.path.rsplit('.', 1)[1]} {i.keyword}" for i in plan.unsupported] == [
        "a type",
        "b type",
        "c enum",
        "d enum",
        "e pattern",
        "f minimum",
        "g minItems",
        "h properties",
        "h required",
        "i additionalProperties",
        "j additionalProperties",
        "l 7",
    ]
    assert check(plan, {"m": 10}) == ["properties.m: Input should be less than 10 (got 10)"]
    assert check(plan, {"j": {"k": 1, "other": 2}, "g": [], "a": {}}) == []
