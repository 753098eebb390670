# ruff: noqa: PLR0402 - the import is written as segment-analytics-python's docs write it
# mypy: disable-error-code="import-untyped, import-not-found"
"""A small program written for segment-analytics-python 2.x.

tests/test_migration.py runs it as it is, and again with its import of
``segment.analytics`` replaced by ``aioanalytics.compat``, the only change a migration needs.
"""

import os
import sys
from datetime import UTC, datetime

import segment.analytics as analytics

errors: list[str] = []


def on_error(error, batch):
    errors.append(f"{error!r} for {len(batch)} messages")


analytics.write_key = "legacy-write-key"
analytics.host = os.environ["SEGMENT_HOST"]
analytics.max_retries = 2
analytics.on_error = on_error

analytics.identify("user-1", {"email": "ada@example.com", "plan": "pro"})
analytics.track("user-1", "Signed Up", {"plan": "pro", "seats": 3})
analytics.page("user-1", "Docs", "Quickstart", {"url": "https://example.com/docs/quickstart"})
analytics.screen("user-1", "Onboarding", "Welcome")
analytics.group("user-1", "group-1", {"name": "Acme", "employees": 42})
analytics.alias("anonymous-1", "user-1")
analytics.track(
    anonymous_id="anonymous-2",
    event="Viewed Pricing",
    properties={"tier": "team"},
    context={"ip": "203.0.113.7"},
    timestamp=datetime(2024, 3, 15, 11, 59, 30, tzinfo=UTC),
    integrations={"All": True},
    message_id="legacy-message-1",
)
queued, message = analytics.track(7, "Numeric Id")
if not queued or message["userId"] != "7" or message["event"] != "Numeric Id":
    sys.exit(f"a call should return (True, message), got {(queued, message)!r}")

analytics.flush()
analytics.shutdown()
if errors:
    sys.exit("delivery failed: " + "; ".join(errors))
