"""``aioanalytics plan generate`` and ``aioanalytics plan check`` (the ``cli`` extra).

Exit statuses, as for the other commands: 0 when all is well, 1 when the check found
violations (or ``generate --check`` found the module out of date), 2 for bad usage or a
plan that cannot be read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ._check import CheckReport, check_messages
from ._codegen import generate_module
from ._plan import PlanError, TrackingPlan, load_plan

__all__ = ["plan"]

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def _load(path: str) -> TrackingPlan:
    try:
        return load_plan(path)
    except PlanError as exc:
        raise click.UsageError(str(exc)) from exc


def _warn_unsupported(tracking_plan: TrackingPlan) -> None:
    for issue in tracking_plan.unsupported:
        stderr.print(f"warning: {issue}", markup=False)


@click.group()
def plan() -> None:
    """Typed events from a tracking plan, and recorded events checked against it.

    A plan is Segment's tracking plan export (JSON) or aioanalytics' own small format (JSON
    or YAML); see the tracking plans guide.

    \b
    aioanalytics plan generate tracking-plan.yaml -o events.py
    aioanalytics plan check tracking-plan.yaml events.jsonl
    """


@plan.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    help="The module to write ('-': standard output).",
)
@click.option("--strict", is_flag=True, help="Fail if the plan uses unsupported JSON Schema.")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Write nothing; exit 1 if --output is not what would be generated (for CI).",
)
def generate(plan_file: str, output: str, strict: bool, check_only: bool) -> None:
    """Write a module of pydantic models and typed functions for PLAN.

    One model per event (unknown properties refused unless the plan allows them), an async
    function per event (await track_order_completed(analytics, user_id=..., revenue=...))
    and its blocking twin (track_order_completed_sync) for aioanalytics.sync.Analytics, plus
    identify() and group() when the plan has their traits. JSON Schema the check cannot
    enforce is reported on standard error (--strict: an error).

    \b
    aioanalytics plan generate tracking-plan.yaml -o myapp/events.py
    aioanalytics plan generate tracking-plan.yaml -o myapp/events.py --check
    """
    tracking_plan = _load(plan_file)
    _warn_unsupported(tracking_plan)
    if strict and tracking_plan.unsupported:
        raise click.UsageError(
            f"the plan uses {len(tracking_plan.unsupported)} unsupported JSON Schema "
            "keyword(s), listed above (--strict)"
        )
    source = f"aioanalytics plan generate {plan_file} -o {output}"
    try:
        text = generate_module(tracking_plan, source=source)
    except PlanError as exc:
        raise click.UsageError(str(exc)) from exc
    if check_only:
        if output == "-":
            raise click.UsageError("--check needs --output, the module to compare")
        try:
            current = Path(output).read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            stderr.print(f"{output} is out of date; regenerate it with: {source}", markup=False)
            raise SystemExit(1)
        stdout.print(f"{output} is up to date", markup=False)
        return
    if output == "-":
        sys.stdout.write(text)
        return
    Path(output).write_text(text, encoding="utf-8")
    events = len(tracking_plan.events)
    stdout.print(f"wrote {output}: {events} event(s)", markup=False)


def _lines(source: str) -> Iterator[str]:
    if source == "-":
        yield from sys.stdin
        return
    if source.startswith(("http://", "https://")):
        import httpx

        url = source.rstrip("/") + "/api/export"
        try:
            with httpx.stream("GET", url, timeout=30) as response:
                response.raise_for_status()
                yield from response.iter_lines()
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot read the collector's export {url}: {exc}") from exc
        return
    try:
        with open(source, encoding="utf-8") as lines:
            yield from lines
    except OSError as exc:
        raise click.UsageError(f"cannot read {source!r}: {exc.strerror}") from exc


@plan.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(exists=True, dir_okay=False))
@click.argument("sources", metavar="EVENTS...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(plan_file: str, sources: tuple[str, ...], as_json: bool) -> None:
    """Check recorded messages against PLAN; report the violations per event and property.

    EVENTS is a JSON Lines file (one message, or one {"batch": [...]} body, per line), '-'
    for standard input, or the URL of a local collector (aioanalytics serve), whose export
    is read. The exit status is 1 if any message breaks the plan.

    \b
    aioanalytics plan check tracking-plan.yaml events.jsonl
    aioanalytics plan check tracking-plan.yaml http://127.0.0.1:8000
    """
    tracking_plan = _load(plan_file)
    _warn_unsupported(tracking_plan)
    report = CheckReport()
    for source in sources:
        part = check_messages(tracking_plan, _lines(source))
        _merge(report, part, source if len(sources) > 1 else None)
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        _print(report)
    if not report.ok:
        raise SystemExit(1)


def _merge(report: CheckReport, part: CheckReport, source: str | None) -> None:
    report.messages += part.messages
    report.checked += part.checked
    report.violating += part.violating
    report.unchecked.update(part.unchecked)
    prefix = f"{source}:" if source else ""
    report.unreadable += [(n, f"{prefix}{reason}") for n, reason in part.unreadable]
    report.violations.update(part.violations)
    report.by_event.update(part.by_event)
    for key, value in part.examples.items():
        report.examples.setdefault(key, value)


def _print(report: CheckReport) -> None:
    unchecked = sum(report.unchecked.values())
    summary = (
        f"{report.messages:,} message(s): {report.checked:,} checked, "
        f"{report.checked - report.violating:,} keep to the plan, {report.violating:,} break it"
    )
    if unchecked:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(report.unchecked.items()))
        summary += f"; not covered by the plan: {kinds}"
    stdout.print(summary, markup=False)
    for number, reason in report.unreadable[:20]:
        stderr.print(f"line {number}: {reason}", markup=False)
    if len(report.unreadable) > 20:
        stderr.print(f"... and {len(report.unreadable) - 20} more unreadable line(s)")
    if not report.violations:
        return
    table = Table(title="violations")
    table.add_column("event")
    table.add_column("field")
    table.add_column("violation")
    table.add_column("count", justify="right")
    table.add_column("example")
    for event, path, reason, count in report.rows():
        example = report.examples.get((event, path, reason), "")
        table.add_row(event, path, reason, f"{count:,}", example)
    stdout.print(table)
