"""How long a script takes to exit once its main thread is done, with its host unreachable.

Shared by the sync facade's and the compat layer's exit tests. Two hosts that never deliver:
a loopback port nobody listens on (every attempt is refused and retried), and a loopback
server that accepts connections and never answers (the request stays in flight).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAIN_DONE",
    "ExitTiming",
    "assert_waited_once",
    "exit_timings",
    "unreachable_hosts",
]

#: What a script prints as the last thing its main thread does.
MAIN_DONE = "main thread done"


@dataclass(frozen=True)
class ExitTiming:
    """A finished script: seconds from ``MAIN_DONE`` to its exit, its exit code and stderr."""

    seconds: float
    returncode: int
    stderr: str


@contextmanager
def unreachable_hosts() -> Iterator[dict[str, str]]:
    """``{"refused": url, "silent": url}``: two loopback hosts that never answer."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        refused = probe.getsockname()[1]
    with socket.socket() as silent:  # accepts (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        yield {
            "refused": f"http://127.0.0.1:{refused}",
            "silent": f"http://127.0.0.1:{silent.getsockname()[1]}",
        }


def exit_timings(
    source: str, hosts: dict[str, str], tmp_path: Path, python: str = sys.executable
) -> dict[str, ExitTiming]:
    """Run ``source`` once per host (``HOST`` in its environment), all at once; time each exit.

    The clock starts when the script prints :data:`MAIN_DONE`, so start-up and imports do not
    count, and stops when the process has exited.
    """
    script = tmp_path / "exit_script.py"
    script.write_text(textwrap.dedent(source))

    def run(url: str) -> ExitTiming:
        process = subprocess.Popen(
            [python, str(script)],
            env={**os.environ, "HOST": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with process:
            assert process.stdout is not None and process.stderr is not None
            done = None
            for line in process.stdout:
                if line.strip() == MAIN_DONE:
                    done = time.monotonic()
                    break
            try:
                process.wait(timeout=120)
            finally:
                ended = time.monotonic()
                process.kill()
            stderr = process.stderr.read()
        assert done is not None, f"the script never finished its main thread: {stderr}"
        return ExitTiming(ended - done, process.returncode, stderr)

    with ThreadPoolExecutor(len(hosts)) as pool:
        futures = {name: pool.submit(run, url) for name, url in hosts.items()}
        return {name: future.result() for name, future in futures.items()}


def assert_waited_once(timings: dict[str, ExitTiming], timeout: float) -> None:
    """Each script exited cleanly within 1.5 times ``timeout`` (waiting it twice breaks that)
    and reported its undelivered message rather than dropping it."""
    for name, timing in timings.items():
        assert timing.returncode == 0, (name, timing.stderr)
        assert "1 message(s) failed" in timing.stderr, (name, timing.stderr)
        assert timing.seconds < 1.5 * timeout, (name, timing)
