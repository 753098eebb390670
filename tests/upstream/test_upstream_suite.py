"""segment-analytics-python's own test suite, run against ``aioanalytics.compat``.

The pinned source archive (``sdist.py``) is downloaded once and cached; its tests run in a
child pytest where ``segment.analytics`` is ``aioanalytics.compat`` (``harness/``), with
Segment's API redirected to a local collector. Every test of the public API must pass;
the tests of segment's internals are skipped, each with its reason, and the list of them
is checked here so that none is skipped by accident.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.upstream import sdist

HARNESS = Path(__file__).parent / "harness"
ROOT = Path(__file__).parent.parent.parent
#: Upstream modules that exercise the public API; the others import segment's internals.
PUBLIC = ("test_client.py", "test_init.py", "test_module.py")

#: Every public-API test that must pass against compat: all of the public modules' tests
#: but the seven in the harness's INTERNAL list.
EXPECTED_PASSING = {
    "test_client.py": {
        "test_requires_write_key", "test_empty_flush", "test_basic_track",
        "test_stringifies_user_id", "test_stringifies_anonymous_id", "test_advanced_track",
        "test_basic_identify", "test_advanced_identify", "test_basic_group",
        "test_advanced_group", "test_basic_alias", "test_basic_page", "test_advanced_page",
        "test_basic_screen", "test_advanced_screen", "test_flush", "test_overflow",
        "test_success_on_invalid_write_key", "test_unicode", "test_numeric_user_id",
        "test_debug", "test_identify_with_date_object", "test_gzip",
        "test_queue_full_returns_false", "test_queue_full_does_not_raise",
    },
    "test_init.py": {
        "test_writeKey", "test_debug", "test_gzip", "test_host", "test_max_queue_size",
        "test_sync_mode", "test_timeout",
    },
    "test_module.py": {
        "test_no_write_key", "test_no_host", "test_track", "test_identify", "test_group",
        "test_alias", "test_page", "test_screen", "test_flush",
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def upstream_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run the upstream suite once; the outcomes by test, and the harness's report."""
    archive = sdist.fetch()
    run = tmp_path_factory.mktemp("upstream")
    package = run / "segment" / "analytics"
    package.mkdir(parents=True)
    (run / "segment" / "__init__.py").write_text("")
    shutil.copy(HARNESS / "segment_analytics.py", package / "__init__.py")
    (run / "mock.py").write_text("from unittest.mock import *  # noqa: F403\n")
    shutil.copy(HARNESS / "upstream_conftest.py", run / "conftest.py")
    (run / "pytest.ini").write_text("[pytest]\n")
    for name, source in sdist.upstream_tests(archive).items():
        (run / (name if name in PUBLIC else f"{name}.internal")).write_text(source)
    report = run / "junit.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(run), str(ROOT)])}
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-c", str(run / "pytest.ini"), "--rootdir", str(run),
            "-p", "no:cacheprovider", "-q", "-rs", f"--junitxml={report}", str(run),
        ],
        cwd=run, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    outcomes: dict[str, tuple[str, str]] = {}
    for case in ET.parse(report).iter("testcase"):
        module = Path(case.get("classname", "").split(".")[0] + ".py").name
        key = f"{module}::{case.get('name')}"
        outcome, detail = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome, detail = kind, element.get("message", "")
        outcomes[key] = (outcome, detail)
    harness = json.loads((run / "result.json").read_text())
    return {"outcomes": outcomes, "harness": harness, "output": result.stdout + result.stderr}


def test_every_public_api_test_passes(upstream_run: dict[str, object]) -> None:
    """The 41 upstream tests of the public API that do not read segment's internals pass
    against compat, with strict
    assertions (the ``fail`` hook no longer swallows failed comparisons)."""
    outcomes = upstream_run["outcomes"]
    assert isinstance(outcomes, dict)
    failed = {k: v for k, v in outcomes.items() if v[0] in ("failure", "error")}
    assert not failed, upstream_run["output"]
    passed = {k for k, v in outcomes.items() if v[0] == "passed"}
    expected = {f"{m}::{t}" for m, tests in EXPECTED_PASSING.items() for t in tests}
    assert len(expected) == 41
    assert passed == expected, upstream_run["output"]


def test_only_internal_tests_are_skipped_each_with_a_reason(
    upstream_run: dict[str, object],
) -> None:
    """What is skipped tests segment's internals, and says why."""
    outcomes = upstream_run["outcomes"]
    assert isinstance(outcomes, dict)
    skipped = {k: v[1] for k, v in outcomes.items() if v[0] == "skipped"}
    assert skipped
    listing = [f"{len(skipped)} upstream tests of segment's internals skipped:"]
    listing += [f"  {t}: {r.removeprefix('internal: ')}" for t, r in sorted(skipped.items())]
    sys.stdout.write("\n".join(listing) + "\n")  # the report of `nox -s upstream` (-rP)
    for test, reason in skipped.items():
        assert "internal: " in reason, (test, reason)
        module = test.split("::")[0]
        assert module not in PUBLIC or test.split("::")[-1] not in EXPECTED_PASSING[module]


def test_no_traffic_leaves_the_machine_and_differences_are_known(
    upstream_run: dict[str, object],
) -> None:
    """Every request went to the local collector; the only tolerated mismatches are the
    documented ones (timestamp precision, ``context.library``)."""
    harness = upstream_run["harness"]
    assert isinstance(harness, dict)
    assert harness["blocked"] == []
    assert harness["accepted"] > 1000  # test_flush alone sends 1000 messages
    assert {entry["difference"] for entry in harness["tolerated"]} <= {"timestamp", "library"}
