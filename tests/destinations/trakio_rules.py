"""Trak.io mapping rules as data: one vector per rule of the destination spec (section B3).

``expect`` maps each path to the ``data`` objects of the requests sent there, in any order.
"""

from __future__ import annotations

from collections.abc import Mapping

from tests.destinations.support import AT_ISO, Rule

__all__ = ["TRAKIO_RULES"]

U1 = {"user_id": "u1"}
PAGE = {"url": "https://x.example/docs/pricing", "path": "/docs/pricing", "title": "Pricing | X"}


def _track(event: str, properties: Mapping[str, object], **extra: object) -> dict[str, object]:
    return {"distinct_id": "u1", "event": event, "properties": properties, "time": AT_ISO, **extra}


TRAKIO_RULES = [
    Rule(
        "B3.1 identify sends every trait plus the special person property copies",
        "identify",
        {
            **U1,
            "traits": {
                "email": "ada@example.com",
                "name": "Ada Lovelace",
                "avatar": "https://img.example/ada.png",
                "account": "acme",
                "gender": "female",
                "company": "Analytical Engines",
                "tags": ["vip"],
                "plan": "pro",
                "gone": None,
            },
        },
        {
            "/v1/identify": [
                {
                    "distinct_id": "u1",
                    "properties": {
                        "email": "ada@example.com",
                        "name": "Ada Lovelace",
                        "avatar": "https://img.example/ada.png",
                        "account": "acme",
                        "gender": "female",
                        "company": "Analytical Engines",
                        "tags": ["vip"],
                        "plan": "pro",
                        "avatar_url": "https://img.example/ada.png",
                        "account_id": "acme",
                    },
                }
            ]
        },
    ),
    Rule(
        "B3.1 a name is built from firstName and lastName when absent",
        "identify",
        {**U1, "traits": {"firstName": "Ada", "lastName": "Lovelace"}},
        {
            "/v1/identify": [
                {
                    "distinct_id": "u1",
                    "properties": {
                        "firstName": "Ada",
                        "lastName": "Lovelace",
                        "name": "Ada Lovelace",
                    },
                }
            ]
        },
    ),
    Rule(
        "B3.1 birthday is ISO-8601 UTC with milliseconds",
        "identify",
        {**U1, "traits": {"birthday": "1990-07-04"}},
        {
            "/v1/identify": [
                {"distinct_id": "u1", "properties": {"birthday": "1990-07-04T00:00:00.000Z"}}
            ]
        },
    ),
    Rule(
        "B3.1 a birthday that is not a date is sent as given",
        "identify",
        {**U1, "traits": {"birthday": "July"}},
        {"/v1/identify": [{"distinct_id": "u1", "properties": {"birthday": "July"}}]},
    ),
    Rule(
        "B3.1 an anonymous identify uses the anonymousId",
        "identify",
        {"anonymous_id": "a1", "traits": {"plan": "pro"}},
        {"/v1/identify": [{"distinct_id": "a1", "properties": {"plan": "pro"}}]},
    ),
    Rule(
        "B3.2 track sends the event, its properties and its time",
        "track",
        {**U1, "event": "Signed Up", "properties": {"plan": "pro", "gone": None}},
        {"/v1/track": [_track("Signed Up", {"plan": "pro"})]},
    ),
    Rule(
        "B3.2 properties.channel is also the event's channel",
        "track",
        {**U1, "event": "Signed Up", "properties": {"channel": "email", "plan": "pro"}},
        {"/v1/track": [_track("Signed Up", {"channel": "email", "plan": "pro"}, channel="email")]},
    ),
    Rule(
        "B3.3 a page is a Page view, plus named and categorized page events",
        "page",
        {**U1, "name": "Pricing", "category": "Docs", "properties": PAGE},
        {
            "/v1/track": [
                _track(
                    "Page view",
                    {"url": PAGE["url"], "path": PAGE["path"], "title": "Pricing"},
                    channel="Docs",
                ),
                _track(
                    "Viewed Docs Pricing Page",
                    {**PAGE, "name": "Pricing", "category": "Docs"},
                    channel="Docs",
                ),
                _track(
                    "Viewed Docs Page",
                    {**PAGE, "name": "Pricing", "category": "Docs"},
                    channel="Docs",
                ),
            ]
        },
    ),
    Rule(
        "B3.3 a named page without a category: Page view and Viewed <name> Page",
        "page",
        {**U1, "name": "Pricing", "properties": PAGE},
        {
            "/v1/track": [
                _track("Page view", {"url": PAGE["url"], "path": PAGE["path"], "title": "Pricing"}),
                _track("Viewed Pricing Page", {**PAGE, "name": "Pricing"}),
            ]
        },
    ),
    Rule(
        "B3.3 without a name the page view's title is properties.title",
        "page",
        {**U1, "properties": PAGE},
        {"/v1/track": [_track("Page view", PAGE)]},
    ),
    Rule(
        "B3.3 the derived page events take properties.channel over the category",
        "page",
        {**U1, "category": "Docs", "properties": {"channel": "ads"}},
        {
            "/v1/track": [
                _track("Page view", {}, channel="Docs"),
                _track("Viewed Docs Page", {"channel": "ads", "category": "Docs"}, channel="ads"),
            ]
        },
    ),
    Rule(
        "B1 with named and categorized pages off, a page is only a Page view",
        "page",
        {**U1, "name": "Pricing", "category": "Docs", "properties": PAGE},
        {
            "/v1/track": [
                _track(
                    "Page view",
                    {"url": PAGE["url"], "path": PAGE["path"], "title": "Pricing"},
                    channel="Docs",
                )
            ]
        },
        {"track_named_pages": False, "track_categorized_pages": False},
    ),
    Rule(
        "B3.4 screen sends nothing",
        "screen",
        {**U1, "name": "Home"},
        {},
    ),
    Rule(
        "B3.5 group is a company with its traits, copies, and the user as a member",
        "group",
        {
            **U1,
            "group_id": "g1",
            "traits": {
                "name": "Acme",
                "avatar": "https://img.example/acme.png",
                "address": "1 Main St",
                "description": "Rockets",
            },
        },
        {
            "/v1/company": [
                {
                    "company_id": "g1",
                    "people_distinct_ids": ["u1"],
                    "properties": {
                        "name": "Acme",
                        "avatar": "https://img.example/acme.png",
                        "address": "1 Main St",
                        "description": "Rockets",
                        "avatar_url": "https://img.example/acme.png",
                        "location": "1 Main St",
                        "headline": "Rockets",
                    },
                }
            ]
        },
    ),
    Rule(
        "B3.5 a group without traits is still sent",
        "group",
        {"anonymous_id": "a1", "group_id": "g1"},
        {"/v1/company": [{"company_id": "g1", "people_distinct_ids": ["a1"], "properties": {}}]},
    ),
    Rule(
        "B3.6 alias adds the userId to the person known as previousId",
        "alias",
        {"user_id": "u1", "previous_id": "a1"},
        {"/v1/alias": [{"distinct_id": "a1", "alias": "u1"}]},
    ),
]
