"""Mixpanel mapping rules as data: one vector per rule of the destination spec (sections A1-A3).

Each :class:`Rule` is checked twice: translated directly (``test_mixpanel_translate.py``) and
sent through the client to the emulated API (``test_mixpanel.py``).
"""

from __future__ import annotations

import hashlib

from tests.destinations.support import (
    ANCIENT,
    AT_DATE,
    OLD,
    OLD_DATE,
    OLD_SECONDS,
    TOKEN,
    Rule,
    mp_event,
    mp_profile,
    set_context,
)

__all__ = ["MIXPANEL_RULES"]

PEOPLE = {"people": True}
SECRET = {"api_secret": "SECRET"}
NOT_CONSOLIDATED = {"consolidated_page_calls": False}
U1 = {"user_id": "u1"}
IOS = {
    "device": {
        "type": "iOS",
        "model": "iPhone7,2",
        "manufacturer": "Apple",
        "advertisingId": "ifa",
    },
    "os": {"name": "iOS", "version": "17.1"},
    "app": {"build": "545", "version": "3.0"},
    "network": {"carrier": "T-Mobile", "wifi": True},
    "screen": {"width": 320, "height": 568},
}
IOS_PROPERTIES = {
    "$carrier": "T-Mobile",
    "$manufacturer": "Apple",
    "$model": "iPhone7,2",
    "$os": "iOS",
    "$os_version": "17.1",
    "$screen_height": 568,
    "$screen_width": 320,
    "$wifi": True,
    "$ios_ifa": "ifa",
    "$ios_device_model": "iPhone7,2",
    "$ios_app_release": "545",
    "$ios_app_version": "3.0",
    "$ios_version": "17.1",
}


def _charge(amount: float, **extra: object) -> dict[str, object]:
    return {
        "$token": TOKEN,
        "$distinct_id": "u1",
        **extra,
        "$append": {"$transactions": {"$time": AT_DATE, "$amount": amount}},
    }


def _increment(event: str, date: str = AT_DATE) -> list[dict[str, object]]:
    base = {"$token": TOKEN, "$distinct_id": "u1"}
    return [{**base, "$add": {event: 1}}, {**base, "$set": {f"Last {event}": date}}]


IDENTIFY_RULES = [
    Rule(
        "A3.1 identify without people sends nothing",
        "identify",
        {**U1, "traits": {"email": "a@b.c"}},
        {},
    ),
    Rule(
        "A3.1 identify sets the traits on the profile with the base fields",
        "identify",
        {**U1, "traits": {"plan": "pro", "email": "a@b.c"}},
        {"/engage": [mp_profile("$set", {"plan": "pro", "$email": "a@b.c"})]},
        PEOPLE,
    ),
    Rule(
        "A3.1 an anonymous identify uses the anonymousId",
        "identify",
        {"anonymous_id": "a1", "traits": {"plan": "pro"}},
        {"/engage": [mp_profile("$set", {"plan": "pro"}, user="a1")]},
        PEOPLE,
    ),
    Rule(
        "A3.1 special traits are renamed; matching ignores case and punctuation",
        "identify",
        {
            **U1,
            "traits": {
                "created": "2013-01-01",
                "createdAt": "2014-05-06T07:08:09Z",
                "Email": "a@b.c",
                "first_name": "Ada",
                "Last Name": "Lovelace",
                "username": "ada",
                "phone": "555",
                "lastSeen": "2024-01-01",
                "token": "not-the-project-token",
            },
        },
        {
            "/engage": [
                mp_profile(
                    "$set",
                    {
                        "$created": "2013-01-01T00:00:00",
                        "$email": "a@b.c",
                        "$first_name": "Ada",
                        "$last_name": "Lovelace",
                        "$username": "ada",
                        "$phone": "555",
                        "$last_seen": "2024-01-01",
                        "trait_token": "not-the-project-token",
                        "$name": "Ada Lovelace",
                    },
                )
            ]
        },
        PEOPLE,
    ),
    Rule(
        "A3.1 a two-word name gives the first and last names",
        "identify",
        {**U1, "traits": {"name": "Han Kim"}},
        {
            "/engage": [
                mp_profile("$set", {"$name": "Han Kim", "$first_name": "Han", "$last_name": "Kim"})
            ]
        },
        PEOPLE,
    ),
    Rule(
        "A3.1 derived names never overwrite explicit ones",
        "identify",
        {**U1, "traits": {"name": "Han Kim", "lastName": "Solo"}},
        {
            "/engage": [
                mp_profile("$set", {"$last_name": "Solo", "$name": "Han Kim", "$first_name": "Han"})
            ]
        },
        PEOPLE,
    ),
    Rule(
        "A3.1 $created is written as YYYY-MM-DDTHH:MM:SS in UTC",
        "identify",
        {**U1, "traits": {"createdAt": "2014-05-06T09:08:09.123+02:00"}},
        {"/engage": [mp_profile("$set", {"$created": "2014-05-06T07:08:09"})]},
        PEOPLE,
    ),
    Rule(
        "A3.1 a $created that is not a date is dropped",
        "identify",
        {**U1, "traits": {"created": "last tuesday", "plan": "pro"}},
        {"/engage": [mp_profile("$set", {"plan": "pro"})]},
        PEOPLE,
    ),
    Rule(
        "A3.1 a numeric $created is epoch milliseconds, as Segment's JavaScript read it",
        "identify",
        {**U1, "traits": {"created": 1388534400000}},
        {"/engage": [mp_profile("$set", {"$created": "2014-01-01T00:00:00"})]},
        PEOPLE,
    ),
    Rule(
        "A3.1 a numeric $created out of range is dropped",
        "identify",
        {**U1, "traits": {"created": 10**20}},
        {"/engage": [mp_profile("$set", {})]},
        PEOPLE,
    ),
    Rule(
        "A3.1 a first name alone gives the name; a one-word name gives nothing more",
        "identify",
        {**U1, "traits": {"firstName": "Ada", "username": "Cher"}},
        {
            "/engage": [
                mp_profile("$set", {"$first_name": "Ada", "$username": "Cher", "$name": "Ada"})
            ]
        },
        PEOPLE,
    ),
    Rule(
        "A3.1 a one-word name is kept as it is",
        "identify",
        {**U1, "traits": {"name": "Cher"}},
        {"/engage": [mp_profile("$set", {"$name": "Cher"})]},
        PEOPLE,
    ),
    Rule(
        "A3.1 object traits become compact JSON text; arrays stay; nulls go",
        "identify",
        {
            **U1,
            "traits": {
                "address": {"city": "Paris", "zip": "75001"},
                "tags": ["a", "b"],
                "gone": None,
            },
        },
        {
            "/engage": [
                mp_profile(
                    "$set", {"address": '{"city":"Paris","zip":"75001"}', "tags": ["a", "b"]}
                )
            ]
        },
        PEOPLE,
    ),
    Rule(
        "A3.1 the mobile context is merged into $set",
        "identify",
        {**U1, "traits": {"plan": "pro"}, "context": IOS},
        {"/engage": [mp_profile("$set", {"plan": "pro", **IOS_PROPERTIES})]},
        PEOPLE,
    ),
    Rule(
        "A1 setAllTraitsByDefault off keeps the special traits and peopleProperties",
        "identify",
        {**U1, "traits": {"email": "a@b.c", "plan": "pro", "age": 30}},
        {"/engage": [mp_profile("$set", {"$email": "a@b.c", "plan": "pro"})]},
        {**PEOPLE, "set_all_traits_by_default": False, "people_properties": ["Plan"]},
    ),
    Rule(
        "A3.1 a device token is a second record: $union of $ios_devices",
        "identify",
        {**U1, "traits": {}, "context": {"device": {"token": "apns-token"}}},
        {
            "/engage": [
                mp_profile("$set", {}),
                mp_profile("$union", {"$ios_devices": ["apns-token"]}),
            ]
        },
        PEOPLE,
    ),
    Rule(
        "A3.8 context.ip is the profile's $ip",
        "identify",
        {**U1, "context": {"ip": "8.8.8.8"}},
        {"/engage": [mp_profile("$set", {}, ip="8.8.8.8")]},
        PEOPLE,
    ),
    Rule(
        "A3.8 context.ip 0 disables geolocation: $ip 0",
        "identify",
        U1,
        {"/engage": [mp_profile("$set", {}, ip=0)]},
        PEOPLE,
        set_context(ip=0),
    ),
    Rule(
        "A3.1 context.ignoreIp forces $ip 0",
        "identify",
        {**U1, "context": {"ip": "8.8.8.8", "ignoreIp": True}},
        {"/engage": [mp_profile("$set", {}, ip=0)]},
        PEOPLE,
    ),
    Rule(
        "A3.1 context.Mixpanel.ignoreIp forces $ip 0",
        "identify",
        {**U1, "context": {"ip": "8.8.8.8", "Mixpanel": {"ignoreIp": True}}},
        {"/engage": [mp_profile("$set", {}, ip=0)]},
        PEOPLE,
    ),
    Rule(
        "A3.1 context.active false sets $ignore_time on every record",
        "identify",
        {**U1, "context": {"active": False, "device": {"token": "t"}}},
        {
            "/engage": [
                mp_profile("$set", {}, ignore_time=True),
                mp_profile("$union", {"$ios_devices": ["t"]}, ignore_time=True),
            ]
        },
        PEOPLE,
    ),
    Rule(
        "A3.1 context.Mixpanel.ignoreTime sets $ignore_time",
        "identify",
        {**U1, "context": {"Mixpanel": {"ignoreTime": True}}},
        {"/engage": [mp_profile("$set", {}, ignore_time=True)]},
        PEOPLE,
    ),
]

TRACK_RULES = [
    Rule(
        "A3.2 track is an event on /track with the semantic properties",
        "track",
        {**U1, "event": "Signed Up", "properties": {"plan": "pro", "seats": 3}},
        {"/track": [mp_event("Signed Up", {"plan": "pro", "seats": 3})]},
    ),
    Rule(
        "A3.2 an anonymous event takes its ids from the anonymousId",
        "track",
        {"anonymous_id": "a1", "event": "Viewed"},
        {"/track": [mp_event("Viewed", user=None, anonymous="a1")]},
    ),
    Rule(
        "A3.2 both ids: $device_id is the anonymousId and $user_id the userId",
        "track",
        {**U1, "anonymous_id": "a1", "event": "Viewed"},
        {"/track": [mp_event("Viewed", anonymous="a1")]},
    ),
    Rule(
        "A3.2 username, searchEngine and referrer become Mixpanel's special properties",
        "track",
        {
            **U1,
            "event": "Searched",
            "properties": {
                "username": "ada",
                "searchEngine": "ddg",
                "referrer": "https://ref.example",
                "q": "x",
            },
        },
        {
            "/track": [
                mp_event(
                    "Searched",
                    {
                        "q": "x",
                        "$referrer": "https://ref.example",
                        "$search_engine": "ddg",
                        "$username": "ada",
                    },
                )
            ]
        },
    ),
    Rule(
        "A3.2 $referrer falls back to context.referrer.link",
        "track",
        {
            **U1,
            "event": "Viewed",
            "context": {
                "referrer": {"link": "https://link.example"},
                "page": {"referrer": "https://page.example"},
            },
        },
        {"/track": [mp_event("Viewed", {"$referrer": "https://link.example"})]},
    ),
    Rule(
        "A3.2 $referrer falls back to context.page.referrer last",
        "track",
        {**U1, "event": "Viewed", "context": {"page": {"referrer": "https://page.example"}}},
        {"/track": [mp_event("Viewed", {"$referrer": "https://page.example"})]},
    ),
    Rule(
        "A3.2 context page, app and device give $current_url, $app_release, $app_version, $device",
        "track",
        {
            **U1,
            "event": "Opened",
            "context": {
                "page": {"url": "https://x.example/p"},
                "app": {"build": "545", "version": "3.0"},
                "device": {"name": "maguro"},
            },
        },
        {
            "/track": [
                mp_event(
                    "Opened",
                    {
                        "$current_url": "https://x.example/p",
                        "$app_release": "545",
                        "$app_version": "3.0",
                        "$device": "maguro",
                    },
                )
            ]
        },
    ),
    Rule(
        "A3.2 mp_name_tag is context.traits.name; context traits are not event properties",
        "track",
        {**U1, "event": "Paid", "context": {"traits": {"name": "Ada", "email": "a@b.c"}}},
        {"/track": [mp_event("Paid", name_tag="Ada")]},
        {"super_properties": ["email"]},
    ),
    Rule(
        "A3.2 mp_name_tag falls back to context.traits.email",
        "track",
        {**U1, "event": "Paid", "context": {"traits": {"email": "a@b.c"}}},
        {"/track": [mp_event("Paid", name_tag="a@b.c")]},
    ),
    Rule(
        "A3.8 context.ip is the ip property",
        "track",
        {**U1, "event": "Paid", "context": {"ip": "8.8.8.8"}},
        {"/track": [mp_event("Paid", {"ip": "8.8.8.8"})]},
    ),
    Rule(
        "A3.8 context.ip 0 is kept: it disables geolocation",
        "track",
        {**U1, "event": "Paid"},
        {"/track": [mp_event("Paid", {"ip": 0})]},
        plugin=set_context(ip=0),
    ),
    Rule(
        'A3.8 context.ip "0" is sent as the number 0',
        "track",
        {**U1, "event": "Paid", "context": {"ip": "0"}},
        {"/track": [mp_event("Paid", {"ip": 0})]},
    ),
    Rule(
        "A3.2 without context.ip a user-supplied ip property is dropped",
        "track",
        {**U1, "event": "Paid", "properties": {"ip": "1.2.3.4"}},
        {"/track": [mp_event("Paid")]},
    ),
    Rule(
        "A3.7 iOS context (device type matched in any case)",
        "track",
        {**U1, "event": "Opened", "context": IOS},
        {
            "/track": [
                mp_event(
                    "Opened",
                    {"$app_release": "545", "$app_version": "3.0", **IOS_PROPERTIES},
                )
            ]
        },
    ),
    Rule(
        "A3.7 Android context",
        "track",
        {
            **U1,
            "event": "Opened",
            "context": {
                "device": {"type": "android", "model": "Pixel", "manufacturer": "Google"},
                "os": {"name": "Android", "version": "14"},
                "app": {"version": "3.0"},
                "network": {"bluetooth": False, "cellular": True},
                "screen": {"density": 2},
            },
        },
        {
            "/track": [
                mp_event(
                    "Opened",
                    {
                        "$app_version": "3.0",
                        "$manufacturer": "Google",
                        "$model": "Pixel",
                        "$os": "Android",
                        "$os_version": "14",
                        "$screen_dpi": 2,
                        "$bluetooth_enabled": False,
                        "$has_telephone": True,
                        "$android_version_code": "3.0",
                        "$android_app_version": "3.0",
                        "$android_os": "Android",
                        "$android_os_version": "14",
                        "$android_model": "Pixel",
                        "$android_manufacturer": "Google",
                    },
                )
            ]
        },
    ),
    Rule(
        "A3.2 context.campaign gives the utm_ properties",
        "track",
        {
            **U1,
            "event": "Opened",
            "context": {
                "campaign": {
                    "name": "spring",
                    "source": "newsletter",
                    "medium": "email",
                    "term": "tps",
                    "content": "image",
                }
            },
        },
        {
            "/track": [
                mp_event(
                    "Opened",
                    {
                        "utm_source": "newsletter",
                        "utm_medium": "email",
                        "utm_term": "tps",
                        "utm_content": "image",
                        "utm_campaign": "spring",
                    },
                )
            ]
        },
    ),
    Rule(
        "A3.2 only the campaign fields present become utm_ properties",
        "track",
        {**U1, "event": "Opened", "context": {"campaign": {"source": "newsletter"}}},
        {"/track": [mp_event("Opened", {"utm_source": "newsletter"})]},
    ),
    Rule(
        "A3.2 null properties go, objects become compact JSON text, arrays stay",
        "track",
        {
            **U1,
            "event": "Ordered",
            "properties": {"gone": None, "cart": {"items": [1, 2]}, "lines": [{"sku": "a"}]},
        },
        {"/track": [mp_event("Ordered", {"cart": '{"items":[1,2]}', "lines": [{"sku": "a"}]})]},
    ),
    Rule(
        "A3.2 the reserved names length and bucket pass through unchanged",
        "track",
        {**U1, "event": "Measured", "properties": {"length": 3, "bucket": "b"}},
        {"/track": [mp_event("Measured", {"length": 3, "bucket": "b"})]},
    ),
    Rule(
        "A3.2 the semantic properties overwrite user-supplied ones",
        "track",
        {
            **U1,
            "event": "Paid",
            "properties": {
                "token": "x",
                "distinct_id": "y",
                "time": 1,
                "$insert_id": "z",
                "mp_lib": "w",
                "mp_name_tag": "v",
            },
        },
        {"/track": [mp_event("Paid")]},
    ),
    Rule(
        "A2 $insert_id is a SHA-256 prefix when the messageId does not fit Mixpanel's rules",
        "track",
        {**U1, "event": "Paid", "message_id": "order:42/retry"},
        {
            "/track": [
                mp_event(
                    "Paid",
                    message_id=hashlib.sha256(b"order:42/retry").hexdigest()[:32],
                )
            ]
        },
    ),
    Rule(
        "A3.2 an increment event adds 1 and sets Last <event> for a known user",
        "track",
        {**U1, "event": "Signed Up"},
        {"/track": [mp_event("Signed Up")], "/engage": _increment("Signed Up")},
        {**PEOPLE, "event_increments": ["signed up"]},
    ),
    Rule(
        "A1 increments and eventIncrements are both used; the event keeps its casing",
        "track",
        {**U1, "event": "logged IN"},
        {"/track": [mp_event("logged IN")], "/engage": _increment("logged IN")},
        {**PEOPLE, "increments": ["Logged In"], "event_increments": ["Other"]},
    ),
    Rule(
        "A3.2 no increment without a userId",
        "track",
        {"anonymous_id": "a1", "event": "Signed Up"},
        {"/track": [mp_event("Signed Up", user=None, anonymous="a1")]},
        {**PEOPLE, "event_increments": ["Signed Up"]},
    ),
    Rule(
        "A3.2 no increment without people",
        "track",
        {**U1, "event": "Signed Up"},
        {"/track": [mp_event("Signed Up")]},
        {"event_increments": ["Signed Up"]},
    ),
    Rule(
        "A3.2 revenue is a charge: $append to $transactions",
        "track",
        {**U1, "event": "Paid", "properties": {"revenue": 25.5}},
        {"/track": [mp_event("Paid", {"revenue": 25.5})], "/engage": [_charge(25.5)]},
        PEOPLE,
    ),
    Rule(
        "A3.2 a revenue string loses its $ and thousands separators",
        "track",
        {**U1, "event": "Paid", "properties": {"revenue": "$1,234.50"}},
        {"/track": [mp_event("Paid", {"revenue": "$1,234.50"})], "/engage": [_charge(1234.5)]},
        PEOPLE,
    ),
    Rule(
        "A3.2 the charge carries $ip and, for an inactive user, $ignore_time",
        "track",
        {
            **U1,
            "event": "Paid",
            "properties": {"revenue": 10},
            "context": {"ip": "8.8.8.8", "active": False},
        },
        {
            "/track": [mp_event("Paid", {"revenue": 10, "ip": "8.8.8.8"})],
            "/engage": [_charge(10, **{"$ip": "8.8.8.8", "$ignore_time": True})],
        },
        PEOPLE,
    ),
    Rule(
        "A3.2 zero revenue is no charge",
        "track",
        {**U1, "event": "Paid", "properties": {"revenue": 0}},
        {"/track": [mp_event("Paid", {"revenue": 0})]},
        PEOPLE,
    ),
    Rule(
        "C revenue without people is no charge",
        "track",
        {**U1, "event": "Paid", "properties": {"revenue": 25.5}},
        {"/track": [mp_event("Paid", {"revenue": 25.5})]},
    ),
    Rule(
        "A3.2 increments come before the charge on /engage",
        "track",
        {**U1, "event": "Paid", "properties": {"revenue": 5}},
        {
            "/track": [mp_event("Paid", {"revenue": 5})],
            "/engage": [*_increment("Paid"), _charge(5)],
        },
        {**PEOPLE, "event_increments": ["paid"]},
    ),
    Rule(
        "A3.2 an event over 5 days old goes to /import when a secret is set",
        "track",
        {**U1, "event": "Paid", "timestamp": OLD},
        {"/import": [mp_event("Paid", time=OLD_SECONDS)]},
        SECRET,
    ),
    Rule(
        "A3.2 an event over 5 days old goes to /import with a service account",
        "track",
        {**U1, "event": "Paid", "timestamp": OLD},
        {"/import": [mp_event("Paid", time=OLD_SECONDS)]},
        {"service_account": {"username": "sa", "secret": "sa-secret", "project_id": "123"}},
    ),
    Rule(
        "A3.2 an old event still updates the profile through /engage",
        "track",
        {**U1, "event": "Paid", "timestamp": OLD, "properties": {"revenue": 5}},
        {
            "/import": [mp_event("Paid", {"revenue": 5}, time=OLD_SECONDS)],
            "/engage": [
                *_increment("Paid", OLD_DATE),
                {
                    "$token": TOKEN,
                    "$distinct_id": "u1",
                    "$append": {"$transactions": {"$time": OLD_DATE, "$amount": 5}},
                },
            ],
        },
        {**SECRET, **PEOPLE, "event_increments": ["Paid"]},
    ),
    Rule(
        "A3.2 an event over 5 days old without credentials is dropped",
        "track",
        {**U1, "event": "Paid", "timestamp": OLD, "properties": {"revenue": 5}},
        {},
        PEOPLE,
    ),
    Rule(
        "A3.2 an event over 5 years old is dropped, even with credentials",
        "track",
        {**U1, "event": "Paid", "timestamp": ANCIENT},
        {},
        SECRET,
    ),
]

PAGE_RULES = [
    Rule(
        "A3.3 consolidated page calls: Loaded a Page, with name and category as properties",
        "page",
        {**U1, "name": "Pricing", "category": "Docs", "properties": {"url": "https://x/p"}},
        {
            "/track": [
                mp_event(
                    "Loaded a Page", {"url": "https://x/p", "name": "Pricing", "category": "Docs"}
                )
            ]
        },
    ),
    Rule(
        "A3.3 trackAllPages: Loaded a Page",
        "page",
        {**U1, "name": "Pricing"},
        {"/track": [mp_event("Loaded a Page", {"name": "Pricing"})]},
        {**NOT_CONSOLIDATED, "track_all_pages": True},
    ),
    Rule(
        "A3.3 categorized pages win, with the full name: one event per call",
        "page",
        {**U1, "name": "Pricing", "category": "Docs"},
        {"/track": [mp_event("Viewed Docs Pricing Page", {"name": "Pricing", "category": "Docs"})]},
        NOT_CONSOLIDATED,
    ),
    Rule(
        "A3.3 a categorized page without a name: Viewed <category> Page",
        "page",
        {**U1, "category": "Docs"},
        {"/track": [mp_event("Viewed Docs Page", {"category": "Docs"})]},
        NOT_CONSOLIDATED,
    ),
    Rule(
        "A3.3 named pages: Viewed <name> Page",
        "page",
        {**U1, "name": "Pricing", "category": "Docs"},
        {"/track": [mp_event("Viewed Pricing Page", {"name": "Pricing", "category": "Docs"})]},
        {**NOT_CONSOLIDATED, "track_categorized_pages": False},
    ),
    Rule(
        "A3.3 a page no setting selects sends nothing",
        "page",
        {**U1, "properties": {"url": "https://x/p"}},
        {},
        NOT_CONSOLIDATED,
    ),
    Rule(
        "A3.3 a page event counts for increments like any event",
        "page",
        {**U1, "name": "Signup"},
        {
            "/track": [mp_event("Viewed Signup Page", {"name": "Signup"})],
            "/engage": _increment("Viewed Signup Page"),
        },
        {**NOT_CONSOLIDATED, **PEOPLE, "event_increments": ["Viewed Signup Page"]},
    ),
    Rule(
        "A3.4 consolidated screen calls: Loaded a Screen",
        "screen",
        {**U1, "name": "Home"},
        {"/track": [mp_event("Loaded a Screen", {"name": "Home"})]},
    ),
    Rule(
        "A3.4 categorized screens: Viewed <category> <name> Screen",
        "screen",
        {**U1, "name": "Home", "category": "Main"},
        {"/track": [mp_event("Viewed Main Home Screen", {"name": "Home", "category": "Main"})]},
        NOT_CONSOLIDATED,
    ),
    Rule(
        "A3.4 named screens: Viewed <name> Screen",
        "screen",
        {**U1, "name": "Home"},
        {"/track": [mp_event("Viewed Home Screen", {"name": "Home"})]},
        NOT_CONSOLIDATED,
    ),
]

OTHER_RULES = [
    Rule(
        "A3.5 group sends nothing",
        "group",
        {**U1, "group_id": "g1", "traits": {"name": "Acme"}},
        {},
        PEOPLE,
    ),
    Rule(
        "A3.6 alias is $create_alias on /track",
        "alias",
        {"user_id": "u1", "previous_id": "a1"},
        {
            "/track": [
                {
                    "event": "$create_alias",
                    "properties": {"distinct_id": "a1", "alias": "u1", "token": TOKEN},
                }
            ]
        },
    ),
    Rule(
        "A3.6 alias uses /track even for an old timestamp",
        "alias",
        {"user_id": "u1", "previous_id": "a1", "timestamp": OLD},
        {
            "/track": [
                {
                    "event": "$create_alias",
                    "properties": {"distinct_id": "a1", "alias": "u1", "token": TOKEN},
                }
            ]
        },
        SECRET,
    ),
]

MIXPANEL_RULES = [*IDENTIFY_RULES, *TRACK_RULES, *PAGE_RULES, *OTHER_RULES]
