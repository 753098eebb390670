"""Automation: ``nox -s lint typecheck tests`` is what CI runs; ``nox -s demo`` the demo."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["lint", "typecheck", "tests"]

PYTHONS = ["3.11", "3.12", "3.13"]
PYPROJECT = nox.project.load_toml("pyproject.toml")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite against the installed package, with line coverage."""
    session.install("-e", ".[server,cli]", *nox.project.dependency_groups(PYPROJECT, "tests"))
    session.run(
        "python",
        "-m",
        "pytest",
        "--cov",
        "--cov-report=term",
        "--cov-fail-under=90",
        *session.posargs,
        env={"COVERAGE_FILE": f".coverage.{session.python}"},
    )


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Send a realistic burst through the SDK to the local collector; fails if anything is lost."""
    session.install(".[server,cli]")
    session.run("aioanalytics", "demo", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[server,cli]", *nox.project.dependency_groups(PYPROJECT, "typing"))
    session.run("mypy", "aioanalytics")
