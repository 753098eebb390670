"""Automation. ``nox -s lint typecheck tests docs examples build`` is what CI runs;
``nox -s demo`` runs the demo; ``nox -s bench`` the benchmarks; ``nox -s chaos`` the long
chaos suite."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["lint", "typecheck", "tests", "docs", "examples", "build"]

PYTHONS = ["3.11", "3.12", "3.13"]
PYPROJECT = nox.project.load_toml("pyproject.toml")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite against the installed package, with branch coverage.

    ``coverage run``, not ``pytest --cov``: the pytest plugin is loaded through an entry
    point, which imports aioanalytics before pytest-cov would start measuring.
    """
    session.install("-e", ".[server,cli]", *nox.project.dependency_groups(PYPROJECT, "tests"))
    env = {"COVERAGE_FILE": f".coverage.{session.python}"}
    session.run("coverage", "erase", env=env)
    # One worker per core (at most 4): the suite waits on servers and timers as much as it
    # computes. Coverage follows the workers (``patch = ["subprocess"]`` in pyproject.toml).
    workers = ["-n", "auto", "--maxprocesses", "4"]
    session.run("coverage", "run", "-m", "pytest", *workers, *session.posargs, env=env)
    session.run("coverage", "combine", env=env)
    session.run("coverage", "report", "--fail-under=90", env=env)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install(
        "-e", ".[server,cli,plan,otel,oauth]", *nox.project.dependency_groups(PYPROJECT, "typing")
    )
    session.run("mypy", "aioanalytics")


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Send a realistic burst through the SDK to the local collector; fails if anything is lost."""
    session.install(".[server,cli]")
    session.run("aioanalytics", "demo", *session.posargs)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site (MkDocs); any warning fails the build."""
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "docs"))
    site = Path(session.create_tmp()) / "site"
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", str(site), env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session(python="3.11")
def examples(session: nox.Session) -> None:
    """Run every script in examples/: checked against the test collector, then run against
    the local collector (``aioanalytics serve``), which must have stored each message once."""
    session.install("-e", ".[server,cli]", *nox.project.dependency_groups(PYPROJECT, "tests"))
    session.run("python", "-m", "pytest", "tests/examples", "-p", "no:cacheprovider")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    python = str(Path(session.bin) / "python")
    serve = [python, "-m", "aioanalytics", "serve", "--port", str(port), "--db", ":memory:"]
    collector = subprocess.Popen(serve)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            session.error(f"aioanalytics serve did not start on {url}")
        examples = sorted(Path("examples").glob("*.py"))
        for example in examples:
            session.run("python", str(example), env={"AIOANALYTICS_HOST": url})
        with urllib.request.urlopen(f"{url}/api/counts", timeout=10) as response:
            counts = json.load(response)
        session.log(f"the local collector stored {counts['total']} messages")
        if counts["duplicates"] or counts["total"] < len(examples):
            session.error(f"unexpected counts from the local collector: {counts}")
    finally:
        collector.terminate()
        collector.wait(timeout=10)


@nox.session(python="3.11")
def build(session: nox.Session) -> None:
    """Build the sdist and the wheel; install each into a fresh venv and smoke-test it."""
    session.install("build")
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    artifacts = sorted(dist.glob("aioanalytics-*"))
    if len(artifacts) != 2:
        session.error(f"expected one sdist and one wheel, got {artifacts}")
    smoke = Path("tests/smoke.py").resolve()
    version = PYPROJECT["project"]["version"]
    for artifact in artifacts:
        venv = tmp / f"smoke-{artifact.name}"
        session.run(
            "uv",
            "venv",
            "--quiet",
            "--clear",
            "--python",
            str(Path(session.bin) / "python"),
            str(venv),
            external=True,
        )
        python = str(venv / ("Scripts" if sys.platform == "win32" else "bin") / "python")
        session.run(
            "uv",
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            str(artifact),
            "pytest",  # the smoke test checks the pytest plugin loads
            external=True,
        )
        with session.chdir(tmp):  # away from the source tree: import what was installed
            session.run(python, str(smoke), version, external=True)


@nox.session(python=PYTHONS)
def upstream(session: nox.Session) -> None:
    """segment-analytics-python's own test suite against aioanalytics.compat.

    Downloads the pinned source archive once (sha256 checked, cached in the temp directory)
    and runs its tests of the public API; the tests of its internals are skipped, each with
    its reason, listed at the end of the run. ``nox -s tests`` runs the same tests.
    """
    session.install("-e", ".[oauth]", *nox.project.dependency_groups(PYPROJECT, "tests"))
    session.run(
        "python", "-m", "pytest", "tests/upstream", "-p", "no:cacheprovider", "-rP",
        *session.posargs,
    )  # fmt: skip


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks against segment-analytics-python, PostHog and a bare httpx sender.

    Prints the table, writes benchmarks/results.json, docs/performance.png and the table in
    docs/performance.md; fails when a target is missed. ``-- --quick`` for a short run. First,
    what a bound request context costs per track() call (benchmarks/request_context.py);
    last, what a tracking plan costs per call (benchmarks/plan.py).
    """
    session.install(
        ".",
        "segment-analytics-python==2.4.0",
        "posthog>=7,<8",
        "fastapi",
        "uvicorn[standard]",
        "orjson",
        "matplotlib",
    )
    # What the request context costs per track() call (none bound vs one bound): quick.
    quick = ["--quick"] if "--quick" in session.posargs else []
    session.run("python", "-m", "benchmarks.request_context", *quick)
    session.run("python", "-m", "benchmarks.run", *session.posargs)
    # What a tracking plan costs per track() call, as a ratio to the call without one.
    session.run("python", "-m", "benchmarks.plan")


@nox.session(python="3.11")
def chaos(session: nox.Session) -> None:
    """The long chaos suite: faults of every kind and a 30 s total outage, each spool mode."""
    session.install("-e", ".[server,cli]", *nox.project.dependency_groups(PYPROJECT, "tests"))
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/chaos",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"AIOANALYTICS_CHAOS": "long"},
    )


@nox.session(python="3.11")
def soak(session: nox.Session) -> None:
    """A million messages through one client, RSS sampled every second (docs/reliability.md)."""
    session.install(".", "orjson")
    session.run("python", "-m", "benchmarks.soak", *session.posargs)
