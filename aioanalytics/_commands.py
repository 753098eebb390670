"""The ``aioanalytics`` commands, on Click, with Rich for progress bars and tables.

Theory of operation: every command that sends opens one :class:`~aioanalytics.Analytics`,
sends, waits for each :class:`~aioanalytics.Delivery`, and turns the outcome into an exit
status: 0 when everything was delivered, 1 when something was not (the reason is printed),
2 for bad usage or a message that fails validation before anything is sent. ``serve`` and
``demo`` import the collector only when they run, so the other commands work without the
``server`` extra.

The write key and the host come from ``--write-key`` / ``SEGMENT_WRITE_KEY`` and
``--host`` / ``AIOANALYTICS_HOST``. The key is never printed.

A command reports every outcome itself, once: the library's own log (which also records each
failed delivery) stays quiet unless ``-v`` asks for it. The library's messages about its
options name Python arguments (``allow_insecure_http=True``); the commands say them as flags
(``--allow-insecure-http``).

New commands, and groups of commands, are added to :data:`cli` as usual with Click
(``@cli.command()``, ``@cli.group()``); the sending ones take :func:`client_options` and
build their client with :meth:`ClientSettings.client`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from aioanalytics import (
    Analytics,
    AnalyticsError,
    ConfigError,
    Delivery,
    MessageTooLargeError,
    __version__,
)

from ._bulk import ImportReport, import_lines
from ._validation import describe_error
from .plan._commands import plan as plan_commands

__all__ = ["cli"]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_HOST = "https://api.segment.io"
_CLI_RETRIES = 3  # a person is waiting: about 3.5 s of backoff at most before giving up
_SHOWN_FAILURES = 50

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


# -- option types ---------------------------------------------------------------------------


def json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """Parse an option whose value is a JSON object, e.g. ``--properties '{"plan": "pro"}'``."""
    if value is None:
        return None
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON ({exc.msg} at column {exc.colno}): {value!r}"
        raise click.BadParameter(reason) from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"must be a JSON object, got {type(data).__name__}: {value!r}")
    return data


def timestamp(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Parse an ISO 8601 date and time; one without a UTC offset is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 date and time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _apply(options: list[Callable[[F], F]], function: F) -> F:
    for option in reversed(options):
        function = option(function)
    return function


def client_options(function: F) -> F:
    """The options every sending command takes: where to send, with which key, how hard."""
    return _apply(
        [
            click.option(
                "--write-key",
                envvar="SEGMENT_WRITE_KEY",
                show_envvar=True,
                required=True,
                help="The source's write key (sent as HTTP Basic auth; never printed).",
            ),
            click.option(
                "--host",
                envvar="AIOANALYTICS_HOST",
                show_envvar=True,
                default=DEFAULT_HOST,
                show_default=True,
                help="Base URL of Segment or of a compatible collector (aioanalytics serve).",
            ),
            click.option(
                "--max-retries",
                type=click.IntRange(min=0),
                default=_CLI_RETRIES,
                show_default=True,
                help="Retries per batch on network errors, 5xx and 429.",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(min=0, min_open=True),
                default=15.0,
                show_default=True,
                help="Seconds to wait for each HTTP request.",
            ),
            click.option(
                "--gzip/--no-gzip", default=True, show_default=True, help="Compress request bodies."
            ),
            click.option(
                "--allow-insecure-http",
                is_flag=True,
                help="Allow a plain http:// host that is not on this machine.",
            ),
            click.option(
                "-v",
                "--verbose",
                count=True,
                help="Show the SDK's log on stderr: -v retries, -vv everything.",
            ),
        ],
        function,
    )


def message_options(function: F) -> F:
    """The fields every message type has."""
    return _apply(
        [
            click.option("--user-id", help="The user's permanent id in your database."),
            click.option("--anonymous-id", help="A pseudo-unique id for a not-yet-known user."),
            click.option(
                "--context",
                callback=json_object,
                metavar="JSON",
                help="The context object, as JSON.",
            ),
            click.option(
                "--integrations",
                callback=json_object,
                metavar="JSON",
                help="Destination flags, e.g. '{\"All\": false}'.",
            ),
            click.option(
                "--timestamp",
                callback=timestamp,
                metavar="ISO8601",
                help="When it happened (ISO 8601; UTC if no offset). Default: now.",
            ),
            click.option("--message-id", help="Your own messageId (default: a new UUID)."),
        ],
        function,
    )


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How to reach the API, from the client options."""

    write_key: str
    host: str
    max_retries: int
    timeout: float
    gzip: bool
    allow_insecure_http: bool

    @classmethod
    def pop(cls, options: dict[str, Any]) -> ClientSettings:
        """Take the client options out of a command's keyword arguments.

        ``--verbose`` takes effect here: the SDK's log is shown for the rest of the command.
        """
        verbosity = options.pop("verbose")
        if verbosity:
            click.get_current_context().with_resource(library_log(verbosity))
        return cls(
            write_key=options.pop("write_key"),
            host=options.pop("host").rstrip("/"),
            max_retries=options.pop("max_retries"),
            timeout=options.pop("timeout"),
            gzip=options.pop("gzip"),
            allow_insecure_http=options.pop("allow_insecure_http"),
        )

    def client(self, **overrides: Any) -> Analytics:
        """Return a client with these settings."""
        try:
            return Analytics(
                self.write_key,
                host=self.host,
                max_retries=self.max_retries,
                timeout=self.timeout,
                gzip=self.gzip,
                allow_insecure_http=self.allow_insecure_http,
                **overrides,
            )
        except ConfigError as exc:
            raise click.UsageError(as_flags(str(exc))) from exc


#: The client's arguments that the commands take as options, by their flags.
_FLAGS = {
    "host": "--host",
    "max_retries": "--max-retries",
    "timeout": "--timeout",
    "gzip": "--gzip",
    "allow_insecure_http": "--allow-insecure-http",
}


def as_flags(text: str) -> str:
    """Say a :class:`ConfigError` in the command's terms: ``allow_insecure_http=True`` is
    ``--allow-insecure-http``, and a message that starts with an argument's name starts with
    its flag (``host must be ...`` is ``--host must be ...``)."""
    text = re.sub(r"\b([a-z_]+)=True\b", lambda match: _FLAGS.get(match[1], match[0]), text)
    name, sep, rest = text.partition(" ")
    return _FLAGS[name] + sep + rest if name in _FLAGS else text


@contextmanager
def library_log(verbosity: int) -> Iterator[None]:
    """Show the ``aioanalytics`` logger's records on stderr at ``-v`` (INFO) or ``-vv`` (DEBUG).

    At 0 they are not shown: every failure they would report is reported by the command
    itself, and the logging module's last-resort handler would print each one twice. The
    group installs that for every command; ``--verbose`` adds a handler that shows them.
    """
    logger = logging.getLogger("aioanalytics")
    handler: logging.Handler = logging.NullHandler()
    level = logger.level
    if verbosity:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# -- the group ------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="aioanalytics")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Send Segment messages, import JSON Lines files, and run a local collector.

    \b
    Local collector:    aioanalytics serve          (debugger page at http://127.0.0.1:8000/)
    Point the CLI at it (or at Segment, with your source's write key):
                        export SEGMENT_WRITE_KEY=dev-key AIOANALYTICS_HOST=http://127.0.0.1:8000
    Send one message:   aioanalytics track --user-id u1 --event "Signed Up"
    Import a file:      aioanalytics import events.jsonl
    Tracking plans:     aioanalytics plan generate tracking-plan.yaml -o events.py
    See it all work:    aioanalytics demo --keep-open

    The write key and host come from --write-key / SEGMENT_WRITE_KEY and
    --host / AIOANALYTICS_HOST (default https://api.segment.io).
    """
    ctx.with_resource(library_log(0))


cli.add_command(plan_commands)


# -- one message ----------------------------------------------------------------------------


async def _deliver(settings: ClientSettings, kind: str, fields: dict[str, Any]) -> str:
    async with settings.client(flush_interval=0.05) as analytics:
        delivery: Delivery = await getattr(analytics, kind)(**fields)
        await analytics.flush()
        result = await delivery
        return result.message_id


def _option_error(exc: ValidationError) -> str:
    """Describe a validation error in terms of the command's options (``--group-id: ...``)."""
    text = describe_error(exc, {})
    field, sep, reason = text.partition(": ")
    if sep and field.isidentifier():
        return f"--{field.replace('_', '-')}: {reason}"
    return text


def _send_one(kind: str, options: dict[str, Any]) -> None:
    settings = ClientSettings.pop(options)
    fields = {name: value for name, value in options.items() if value is not None}
    try:
        message_id = asyncio.run(_deliver(settings, kind, fields))
    except ValidationError as exc:
        raise click.UsageError(f"invalid {kind}: {_option_error(exc)}") from exc
    except MessageTooLargeError as exc:
        raise click.UsageError(str(exc)) from exc
    except AnalyticsError as exc:
        stderr.print(f"[bold red]error:[/] {kind} not delivered: {exc}", markup=True)
        raise SystemExit(1) from exc
    stdout.print(f"delivered {kind} {message_id}", markup=False)


@cli.command()
@click.option("--event", required=True, help='The action, e.g. "Order Completed".')
@click.option(
    "--properties", callback=json_object, metavar="JSON", help="The event's properties, as JSON."
)
@message_options
@client_options
def track(**options: Any) -> None:
    """Send a track: something the user did.

    \b
    aioanalytics track --user-id u1 --event "Order Completed" \\
        --properties '{"revenue": 42.5, "currency": "USD"}'
    """
    _send_one("track", options)


@cli.command()
@click.option("--traits", callback=json_object, metavar="JSON", help="The user's traits, as JSON.")
@message_options
@client_options
def identify(**options: Any) -> None:
    """Send an identify: who the user is, and their traits.

    \b
    aioanalytics identify --user-id u1 --anonymous-id a1 \\
        --traits '{"email": "ada@example.com", "plan": "pro"}'
    """
    _send_one("identify", options)


@cli.command()
@click.option("--name", help='The page name, e.g. "Pricing".')
@click.option("--category", help="The page category.")
@click.option(
    "--properties",
    callback=json_object,
    metavar="JSON",
    help="url, title, path, referrer..., as JSON.",
)
@message_options
@client_options
def page(**options: Any) -> None:
    """Send a page: the user viewed a web page.

    \b
    aioanalytics page --anonymous-id a1 --name Pricing --properties '{"url": "https://..."}'
    """
    _send_one("page", options)


@cli.command()
@click.option("--name", help='The screen name, e.g. "Dashboard".')
@click.option("--category", help="The screen category.")
@click.option(
    "--properties", callback=json_object, metavar="JSON", help="The screen's properties, as JSON."
)
@message_options
@client_options
def screen(**options: Any) -> None:
    """Send a screen: the user viewed a screen of a mobile app.

    \b
    aioanalytics screen --user-id u1 --name Dashboard
    """
    _send_one("screen", options)


@cli.command()
@click.option("--group-id", required=True, help="The group's (account's, company's) id.")
@click.option("--traits", callback=json_object, metavar="JSON", help="The group's traits, as JSON.")
@message_options
@client_options
def group(**options: Any) -> None:
    """Send a group: the user belongs to a group.

    \b
    aioanalytics group --user-id u1 --group-id acct_1 --traits '{"name": "Acme"}'
    """
    _send_one("group", options)


@cli.command()
@click.option("--previous-id", required=True, help="The old id (often the anonymousId).")
@message_options
@client_options
def alias(**options: Any) -> None:
    """Send an alias: --previous-id and --user-id are the same person.

    \b
    aioanalytics alias --previous-id a1 --user-id u1
    """
    _send_one("alias", options)


# -- import ---------------------------------------------------------------------------------


def _count_lines(path: str) -> int | None:
    if path == "-":
        return None
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def _read_lines(path: str) -> Iterator[str]:
    if path == "-":
        yield from sys.stdin
        return
    with open(path, encoding="utf-8-sig") as handle:
        yield from handle


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@cli.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write every failed line as JSON Lines: {line, reason}.",
)
@client_options
def import_(file: str, report: str | None, **options: Any) -> None:
    """Send historical messages from a JSON Lines FILE ("-" for stdin).

    Each line is one message in the wire format, with "type" (and camelCase keys, as
    Segment's HTTP API takes them); timestamps and messageIds in the file are kept. Bad
    lines are reported with their number and reason and never stop the good ones. Exits
    with 1 if any line failed.

    \b
    {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}
    {"type": "track", "userId": "u1", "event": "Paid", "timestamp": "2024-01-02T03:04:05Z"}
    """
    settings = ClientSettings.pop(options)
    total = _count_lines(file)
    with _progress(stderr) as progress:
        task = progress.add_task("importing", total=total)

        async def run() -> ImportReport:
            async with settings.client() as analytics:
                return await import_lines(
                    analytics, _read_lines(file), on_progress=lambda: progress.advance(task)
                )

        started = time.perf_counter()
        outcome = asyncio.run(run())
    _print_import(file, outcome, time.perf_counter() - started)
    if report is not None:
        with open(report, "w", encoding="utf-8") as handle:
            handle.writelines(
                json.dumps({"line": failure.line, "reason": failure.reason}) + "\n"
                for failure in outcome.failures
            )
    if outcome.failures:
        raise SystemExit(1)


def _print_import(file: str, outcome: ImportReport, seconds: float) -> None:
    stdout.print(
        f"import {file}: {outcome.lines} line(s), {outcome.delivered} delivered, "
        f"{outcome.failed} failed, in {seconds:.2f} s",
        markup=False,
    )
    if outcome.by_type:
        table = Table(show_edge=False, box=None, padding=(0, 2))
        table.add_column("type")
        table.add_column("sent", justify="right")
        for kind, count in sorted(outcome.by_type.items()):
            table.add_row(kind, str(count))
        stdout.print(table)
    if not outcome.failures:
        return
    stderr.print(f"[bold red]{outcome.failed} line(s) failed:[/]")
    for failure in outcome.failures[:_SHOWN_FAILURES]:
        stderr.print(f"  {failure}", markup=False)
    if outcome.failed > _SHOWN_FAILURES:
        stderr.print(f"  ... and {outcome.failed - _SHOWN_FAILURES} more (see --report)")


# -- the collector --------------------------------------------------------------------------


def _require_server(command: str) -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            f"'aioanalytics {command}' needs the 'server' extra (no module named {exc.name!r}).\n"
            "Install it with: pip install 'aioanalytics[server]'"
        ) from None


def fault_options(function: F) -> F:
    """The collector's fault-injection flags."""
    return _apply(
        [
            click.option(
                "--fail-rate",
                type=click.FloatRange(0, 1),
                default=0.0,
                show_default=True,
                help="Fraction of /v1 requests answered with --fail-status (nothing stored).",
            ),
            click.option(
                "--fail-status",
                type=click.Choice(["500", "503", "429"]),
                default="503",
                show_default=True,
                help="Status of an injected failure; 429 carries Retry-After.",
            ),
            click.option(
                "--retry-after",
                type=click.FloatRange(min=0),
                default=1.0,
                show_default=True,
                help="Seconds in the Retry-After header of an injected 429.",
            ),
            click.option(
                "--drop-rate",
                type=click.FloatRange(0, 1),
                default=0.0,
                show_default=True,
                help="Fraction of /v1 requests whose connection is closed with no answer.",
            ),
            click.option(
                "--latency",
                type=click.FloatRange(min=0),
                default=0.0,
                show_default=True,
                help="Seconds added before each /v1 request is answered.",
            ),
            click.option("--seed", type=int, help="Seed the fault draws, for a repeatable run."),
        ],
        function,
    )


def _faults(options: dict[str, Any]) -> Any:
    from ._server import Faults

    try:
        return Faults(
            fail_rate=options.pop("fail_rate"),
            fail_status=int(options.pop("fail_status")),
            retry_after=options.pop("retry_after"),
            drop_rate=options.pop("drop_rate"),
            latency=options.pop("latency"),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _database_path(db: str) -> str:
    return db if db == ":memory:" else str(Path(db).resolve())


def _describe_faults(faults: Any) -> str:
    parts = []
    if faults.fail_rate:
        parts.append(f"{faults.fail_rate:.0%} answered {faults.fail_status}")
    if faults.drop_rate:
        parts.append(f"{faults.drop_rate:.0%} dropped")
    if faults.latency:
        parts.append(f"+{faults.latency:g} s latency")
    return ", ".join(parts) or "none"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="0: any free port.",
)
@click.option(
    "--db",
    default="aioanalytics-collector.db",
    show_default=True,
    help='SQLite file for the events (":memory:" keeps none).',
)
@click.option(
    "--write-key",
    "write_keys",
    multiple=True,
    help="Accept only this write key (repeatable). Default: accept any key.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
    help="uvicorn's log level; info shows each request.",
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A tracking plan: the debugger page marks the messages that break it.",
)
@fault_options
def serve(
    host: str,
    port: int,
    db: str,
    write_keys: tuple[str, ...],
    log_level: str,
    plan_file: str | None,
    **options: Any,
) -> None:
    """Run a local collector that speaks the Segment HTTP API, with a live debugger page.

    Point any Segment SDK at it (aioanalytics: Analytics(key, host="http://127.0.0.1:8000")),
    then open http://127.0.0.1:8000/ to watch messages arrive. Accepted messages are kept in
    SQLite (--db), de-duplicated on messageId. The fault flags make it fail, drop or delay
    requests so you can watch your client retry.

    \b
    aioanalytics serve --port 8000 --write-key dev-key --fail-rate 0.2 --fail-status 429
    """
    _require_server("serve")
    from ._server import Store, bind, create_app, run, url_of

    seed = options.pop("seed")
    faults = _faults(options)
    tracking_plan = _tracking_plan(plan_file)
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    try:
        store = Store(db)
    except sqlite3.Error as exc:
        sock.close()
        raise click.ClickException(f"cannot open the database {db!r}: {exc}") from exc
    url = url_of(sock)
    keys = f"{len(write_keys)} write key(s)" if write_keys else "any write key"
    stdout.print(f"aioanalytics collector listening on {url}", markup=False)
    stdout.print(f"  debugger   {url}/", markup=False)
    stdout.print(f"  database   {_database_path(db)}", markup=False)
    stdout.print(f"  accepting  {keys}", markup=False)
    stdout.print(f"  faults     {_describe_faults(faults)}", markup=False)
    if tracking_plan is not None:
        stdout.print(f"  plan       {plan_file} ({len(tracking_plan.events)} events)", markup=False)
    stdout.print("Press Ctrl-C to stop.", markup=False)
    stdout.file.flush()
    try:
        app = create_app(
            store=store, write_keys=write_keys, faults=faults, seed=seed, plan=tracking_plan
        )
        run(app, sock, log_level=log_level)
    finally:
        store.close()
        sock.close()
    stdout.print("collector stopped", markup=False)


def _tracking_plan(path: str | None) -> Any:
    if path is None:
        return None
    from .plan import PlanError, load_plan

    try:
        return load_plan(path)
    except PlanError as exc:
        raise click.UsageError(str(exc)) from exc


@cli.command()
@click.option(
    "--messages",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Messages to send.",
)
@click.option(
    "--users", type=click.IntRange(min=1), default=200, show_default=True, help="Simulated users."
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Default: any free port.")
@click.option("--db", default=":memory:", show_default=True, help="SQLite file for the events.")
@click.option("--keep-open", is_flag=True, help="Keep the collector and debugger up until Ctrl-C.")
@fault_options
def demo(messages: int, users: int, port: int, db: str, keep_open: bool, **options: Any) -> None:
    """Send a realistic burst through the SDK to a collector started in this process.

    Simulated users browse anonymously, sign up (identify with their anonymousId, alias,
    "Signed Up"), join a company (group), shop ("Order Completed" with revenue) and use
    the app (screen). The table compares what was sent with what the collector stored;
    the exit status is 1 if any message was lost. The fault flags work as for serve.

    \b
    aioanalytics demo --messages 10000 --fail-rate 0.1 --drop-rate 0.05 --keep-open
    """
    _require_server("demo")
    seed = options.pop("seed")
    faults = _faults(options)
    outcome: dict[str, bool] = {}
    try:
        asyncio.run(_demo(messages, users, port, db, keep_open, faults, seed, outcome))
    except KeyboardInterrupt:
        stdout.print("stopped", markup=False)
    if not outcome.get("ok"):
        raise SystemExit(1)


async def _until_stopped() -> None:
    """Wait for SIGINT or SIGTERM (even where the shell made the process ignore Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _demo(
    messages: int,
    users: int,
    port: int,
    db: str,
    keep_open: bool,
    faults: Any,
    seed: int | None,
    outcome: dict[str, bool],
) -> None:
    from ._demo import collector, run_demo, simulate

    calls = simulate(messages, users=users, seed=seed)
    async with collector(db=db, port=port, faults=faults, seed=seed) as (url, store):
        stdout.print(f"collector on {url} (faults: {_describe_faults(faults)})", markup=False)
        with _progress(stdout) as progress:
            task = progress.add_task(f"{users} users", total=len(calls))
            result = await run_demo(url, store, calls, on_progress=lambda: progress.advance(task))
        table = Table(title="sent (SDK) vs stored (collector)")
        table.add_column("type")
        for name in ("sent", "stored", "lost"):
            table.add_column(name, justify="right")
        sent_by_type = Counter(result.sent)
        for kind in ("identify", "track", "page", "screen", "group", "alias"):
            sent, stored = sent_by_type[kind], result.stored.get(kind, 0)
            table.add_row(kind, str(sent), str(stored), str(max(0, sent - stored)))
        total_stored = sum(result.stored.values())
        table.add_row(
            "total",
            str(sum(sent_by_type.values())),
            str(total_stored),
            str(result.lost),
            style="bold",
        )
        stdout.print(table)
        stdout.print(
            f"duplicates {result.duplicates}   retries {result.retried}   "
            f"failed deliveries {result.failed}   "
            f"throughput {result.throughput:,.0f} msgs/s ({result.seconds:.2f} s)",
            markup=False,
        )
        ok = result.lost == 0 and result.failed == 0
        outcome["ok"] = ok
        if ok:
            stdout.print(
                "[bold green]every message stored[/]: sent = stored for every type, 0 lost"
            )
        else:
            stdout.print(f"[bold red]{result.lost} message(s) lost[/]")
        if keep_open:
            stdout.print(f"debugger   {url}/", markup=False)
            stdout.print("Serving until Ctrl-C.", markup=False)
            await _until_stopped()
            stdout.print("stopped", markup=False)
        else:
            stdout.print(
                "The collector stops with the demo: run 'aioanalytics demo --keep-open' to "
                "browse these messages in its debugger page until Ctrl-C.",
                markup=False,
                soft_wrap=True,
            )
