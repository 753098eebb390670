"""The documentation's command lines and test code, run as they are written.

Every ``aioanalytics`` command line of README.md and docs/*.md (in a ``console`` block, or
complete with its arguments in the prose) runs in a
subprocess, in a fresh directory, with none of the CLI's environment variables set but those
the page sets before it (``export A=b`` lines, as a reader following the page in one shell
would have them) or the line itself (``A=b aioanalytics ...``). The one thing
changed is the collector's address: the docs send to ``aioanalytics serve`` on
``http://127.0.0.1:8000``, the test to one it started on a free port. A file a line imports is
written first (two good messages), as the reader would have one. ``serve`` lines listen on a
free port instead of the one they name; ``--keep-open`` lines are stopped with Ctrl-C.

The FastAPI test of docs/testing.md runs, as written, against the quickstart's FastAPI app.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import httpx
import pytest

pytest.importorskip("click")
pytest.importorskip("rich")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from aioanalytics._commands import cli
from tests.test_cli import aioanalytics, environment, serving, stored
from tests.test_pytest_plugin import run
from tests.test_sample_app import NO_NETWORK

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Where the docs say ``aioanalytics serve`` listens.
DOCUMENTED_HOST = "http://127.0.0.1:8000"
EXAMPLE_PLAN = ROOT / "examples" / "tracking_plan" / "plan.yaml"
SENDING = {"track", "identify", "page", "screen", "group", "alias", "import"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
INLINE = re.compile(r"`((?:[A-Z_]+=\S+ )*aioanalytics [^`]+)`")


@dataclass
class Line:
    """One documented command line: ``aioanalytics ARGS``, with the environment it gets."""

    where: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.where}: aioanalytics {shlex.join(self.args)}"


def blocks(text: str, language: str) -> Iterator[tuple[int, list[str]]]:
    """Each fenced block of ``language``: the number of its first line, and its lines."""
    for number, kind, lines in _parts(text):
        if kind == language:
            yield number, lines


def _parts(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """The page in order: fenced blocks (number, language, lines) and prose lines (n, "", [line])."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = lines[index].strip()
        if fence.startswith("```"):
            end = index + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            yield index + 2, fence[3:], lines[index + 1 : end]
            index = end
        else:
            yield index + 1, "", [lines[index]]
        index += 1


def commands(block: list[str]) -> Iterator[tuple[int, str]]:
    """The commands of a console block, with their offsets; with ``$`` prompts, only those."""
    prompted = any(line.startswith("$ ") for line in block)
    pending = ""
    for offset, line in enumerate(block):
        if prompted and not pending:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        yield offset, pending + line
        pending = ""


def _is_group(name: str) -> bool:
    return isinstance(cli.commands.get(name), click.Group)


def documented_lines() -> list[Line]:
    """Every ``aioanalytics`` command line of the README and the docs.

    That is every one in a console block, and every complete one (a command and its
    arguments, such as `` `aioanalytics track --user-id u1 --event E` ``) in the prose.
    """
    found = []
    for path in DOCS:
        exported: dict[str, str] = {}  # a page is read top to bottom, in one shell
        for number, kind, lines in _parts(path.read_text(encoding="utf-8")):
            if kind == "console":
                candidates = [(number + offset, line) for offset, line in commands(lines)]
            elif kind == "":
                candidates = [(number, span) for span in INLINE.findall(lines[0])]
            else:
                continue
            for where, command in candidates:
                words = shlex.split(command, comments=True)
                if words[:1] == ["export"]:
                    exported.update(word.split("=", 1) for word in words[1:])
                    continue
                assigned = {}
                while words and ASSIGNMENT.match(words[0]):
                    name, value = words.pop(0).split("=", 1)
                    assigned[name] = value
                if words[:1] != ["aioanalytics"] or (kind == "" and len(words) < 3):
                    continue
                line = Line(
                    f"{path.relative_to(ROOT)}:{where}", words[1:], {**exported, **assigned}
                )
                if kind == "" and line.args[0] not in cli.commands:
                    continue  # "aioanalytics COMMAND --help": a pattern, not a command line
                if kind == "" and _is_group(line.args[0]) and len(line.args) < 3:
                    continue  # "aioanalytics plan generate": names a command, no arguments
                found.append(line)
    return found


LINES = documented_lines()


def test_the_readme_command_lines_are_found() -> None:
    """The extraction finds the README's lines (so the test below cannot pass on nothing)."""
    readme = [line.args[0] for line in LINES if line.where.startswith("README.md")]
    assert {"track", "import"} <= set(readme)
    assert {line.args[0] for line in LINES} >= {"serve", "demo", *SENDING}


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``aioanalytics serve`` on a free port, accepting any write key; yields its URL."""
    db = tmp_path_factory.mktemp("docs-collector") / "docs.db"
    with serving("--port", "0", "--db", str(db)) as url:
        yield url


def _option(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def _run_sending(line: Line, url: str, cwd: Path) -> None:
    args = [arg.replace(DOCUMENTED_HOST, url) for arg in line.args]
    env = {name: value.replace(DOCUMENTED_HOST, url) for name, value in line.env.items()}
    host = _option(args, "--host") or env.get("AIOANALYTICS_HOST") or "https://api.segment.io"
    # Checked before running: the test only ever sends to the collector on this machine.
    assert host.rstrip("/") == url, (
        f"{line} sends to {host}: the docs should show AIOANALYTICS_HOST or --host with it"
    )
    if args[0] == "import":
        file = next(arg for arg in args[1:] if not arg.startswith("-"))
        (cwd / file).write_text(
            json.dumps({"type": "identify", "userId": "doc-import", "traits": {"plan": "pro"}})
            + "\n"
            + json.dumps({"type": "track", "userId": "doc-import", "event": "Imported"})
            + "\n"
        )
    result = aioanalytics(*args, cwd=cwd, **env)
    assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
    if args[0] == "import":
        assert "2 delivered, 0 failed" in result.stdout
        return
    kind, message_id = result.stdout.split()[1:3]
    assert kind == args[0]
    assert message_id in {event["messageId"] for event in stored(url, type=kind)}


def _run_plan(line: Line, cwd: Path) -> None:
    """Run a ``plan`` line with the example plan at the path it names, and events to check."""
    args = line.args
    plan = next(arg for arg in args[2:] if not arg.startswith("-"))
    (cwd / plan).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE_PLAN, cwd / plan)
    if args[1] == "generate":
        output = _option(args, "-o")
        assert output is not None, f"{line} names no output file"
        (cwd / output).parent.mkdir(parents=True, exist_ok=True)
        if "--check" in args:  # checks a module generated before
            fresh = [arg for arg in args if arg != "--check"]
            assert aioanalytics(*fresh, cwd=cwd, **line.env).returncode == 0
        result = aioanalytics(*args, cwd=cwd, **line.env)
        assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
        assert (cwd / output).read_text(encoding="utf-8").startswith('"""')
        return
    events = [arg for arg in args[3:] if not arg.startswith("-")]
    for name in events:
        (cwd / name).write_text(
            json.dumps(
                {
                    "type": "track",
                    "userId": "u1",
                    "event": "Signed Up",
                    "properties": {"plan": "pro"},
                }
            )
            + "\n"
            + json.dumps(
                {
                    "type": "track",
                    "userId": "u1",
                    "event": "Signed Up",
                    "properties": {"plan": "gold"},
                }
            )
            + "\n"
        )
    result = aioanalytics(*args, cwd=cwd, **line.env)
    assert result.returncode == 1, f"{line}\n{result.stdout}{result.stderr}"
    assert "2 message(s): 2 checked, 1 keep to the plan, 1 break it" in result.stdout


def _run_kept_open(line: Line, cwd: Path) -> None:
    """Run a ``--keep-open`` demo until it serves, check its page, then press Ctrl-C."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aioanalytics", *line.args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(**line.env),
        cwd=cwd,
    )
    try:
        assert process.stdout is not None
        url = None
        for output in process.stdout:
            if output.startswith("debugger"):
                url = output.split()[1]
            if "Serving until Ctrl-C" in output:
                break
        assert url is not None, f"{line} did not print its debugger URL"
        with httpx.Client(trust_env=False) as client:
            assert client.get(url).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, f"{line}\n{out}{err}"


@pytest.mark.parametrize("line", LINES, ids=str)
def test_documented_command_line_works(line: Line, collector: str, tmp_path: Path) -> None:
    """Each documented ``aioanalytics`` command line does what the docs say, as written."""
    command = line.args[0]
    if command in SENDING:
        _run_sending(line, collector, tmp_path)
    elif command == "serve":
        if (plan := _option(line.args, "--plan")) is not None:
            shutil.copy(EXAMPLE_PLAN, tmp_path / plan)
        with serving(*line.args[1:], "--port", "0", cwd=tmp_path, **line.env) as url:
            assert httpx.get(f"{url}/", trust_env=False).status_code == 200
    elif command == "demo" and "--keep-open" in line.args:
        _run_kept_open(line, tmp_path)
    elif command == "plan":
        _run_plan(line, tmp_path)
    else:
        result = aioanalytics(*line.args, cwd=tmp_path, timeout=120, **line.env)
        assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
        if command == "demo":
            assert "every message stored" in result.stdout


def _python_block(path: Path, marker: str) -> str:
    """The one python block of ``path`` that contains ``marker``."""
    (code,) = [
        "\n".join(lines)
        for _, lines in blocks(path.read_text(encoding="utf-8"), "python")
        if marker in "\n".join(lines)
    ]
    return code + "\n"


def test_documented_fastapi_test_passes_against_the_quickstart_app(
    pytester: pytest.Pytester,
) -> None:
    """docs/testing.md's FastAPI test passes against the quickstart's app, saved as myapp.py."""
    pytest.importorskip("fastapi")
    pytest.importorskip("pytest_asyncio")
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    pytester.makeconftest(NO_NETWORK)
    app = _python_block(ROOT / "docs" / "quickstart.md", "def get_analytics")
    (pytester.path / "myapp.py").write_text(app)
    test = _python_block(ROOT / "docs" / "testing.md", "from myapp import")
    (pytester.path / "test_documented.py").write_text(test)
    result = run(pytester, "-v")
    result.assert_outcomes(passed=1)
