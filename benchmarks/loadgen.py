"""HTTP load for the FastAPI benchmark: ``wrk`` when installed, else a small asyncio client.

:func:`run_load` returns ``{"tool", "requests", "duration_s", "rps", "errors"}``. The
fallback runs in its own process (``python -m benchmarks.loadgen``), sending keep-alive
``GET /`` requests over ``--connections`` connections for ``--duration`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from typing import Any

_UNITS = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6}


def wrk_version() -> str | None:
    """``wrk``'s version line, or None when it is not installed."""
    exe = shutil.which("wrk")
    if exe is None:
        return None
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False)
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0].split(" Copyright")[0] if text else "wrk"


def run_load(port: int, duration: float, connections: int, env: dict[str, str]) -> dict[str, Any]:
    """Load ``http://127.0.0.1:port/`` for ``duration`` seconds and report the rate."""
    exe = shutil.which("wrk")
    url = f"http://127.0.0.1:{port}/"
    if exe is not None:
        cmd = [exe, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", url]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        return _parse_wrk(out.stdout)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        "--port",
        str(port),
        "--duration",
        str(duration),
        "--connections",
        str(connections),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _parse_wrk(text: str) -> dict[str, Any]:
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if total is None:
        raise RuntimeError(f"cannot parse wrk output:\n{text}")
    requests = int(total.group(1))
    value, unit = float(total.group(2)), total.group(3)
    duration = value * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}.get(unit, 1.0)
    errors = 0
    for match in re.finditer(r"(connect|read|write|timeout) (\d+)", text):
        errors += int(match.group(2))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        errors += int(non2xx.group(1))
    return {
        "tool": "wrk",
        "requests": requests,
        "duration_s": duration,
        "rps": requests / duration,
        "errors": errors,
    }


async def _connection(port: int, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length:\s*(\d+)", head)
            await reader.readexactly(int(match.group(1)) if match else 0)
            counts[0 if head.startswith(b"HTTP/1.1 200") else 1] += 1
    finally:
        writer.close()


async def _generate(port: int, duration: float, connections: int) -> dict[str, Any]:
    counts = [0, 0]
    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(*(_connection(port, deadline, counts) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    total = counts[0] + counts[1]
    return {
        "tool": "python",
        "requests": total,
        "duration_s": elapsed,
        "rps": total / elapsed,
        "errors": counts[1],
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point of the fallback generator."""
    parser = argparse.ArgumentParser(description="keep-alive HTTP load generator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_generate(args.port, args.duration, args.connections))))


if __name__ == "__main__":
    main()
