"""Run every benchmark, print the table, check the targets; exit 1 when one is missed.

``python -m benchmarks.run [--quick] [--runs N] [--sdks a,b] [--scenarios a,b] [--no-docs]``

One collector process serves the whole invocation. Each (scenario, SDK) run is a fresh
subprocess (:mod:`benchmarks.worker`, or uvicorn serving :mod:`benchmarks.app`), so CPU
and RSS are per SDK; the SDKs take turns within each repetition so that drift on the
machine spreads over all of them. Results go to ``benchmarks/results.json``, the chart
to ``docs/performance.png`` and the table into ``docs/performance.md`` between its
markers. Exit status: 0 all targets met, 1 a target missed, 2 a run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import _netguard, loadgen, report
from benchmarks._control import CollectorControl
from benchmarks.collector import DEFAULT_FAULTS
from benchmarks.drivers import SDKS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
DOC = ROOT / "docs" / "performance.md"
CHART = ROOT / "docs" / "performance.png"

SCENARIOS = ("tight", "webapp", "faults", "stream", "paced", "backlog", "fastapi")


@dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of one invocation."""

    runs: int = 3
    tight_n: int = 100_000
    faults_n: int = 100_000
    #: The stream scenario runs for stream_seconds (at most stream_n calls), so that every
    #: SDK's stall percentiles come from the same number of ticker samples.
    stream_n: int = 1_000_000
    stream_seconds: float = 2.0
    stream_yield_every: int = 10
    paced_rate: float = 5_000.0
    paced_n: int = 15_000
    backlog_n: int = 10_000
    warmup: int = 1_000
    fastapi_seconds: float = 5.0
    fastapi_warmup_seconds: float = 1.0
    fastapi_connections: int = 32
    quick: bool = False
    sdks: tuple[str, ...] = SDKS
    scenarios: tuple[str, ...] = SCENARIOS
    #: PostHog needs 20-45 s per faulted run (one consumer, 1-2-4 s retry sleeps) and drops
    #: all but its first 10,000 events of a tight loop anyway; --all-faults includes it.
    skip_faults: tuple[str, ...] = ("posthog",)
    faults: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FAULTS))


QUICK = {
    "runs": 1,
    "tight_n": 20_000,
    "faults_n": 20_000,
    "stream_seconds": 1.0,
    "paced_n": 5_000,
    "fastapi_seconds": 3.0,
}


class Collector:
    """The collector subprocess."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.collector", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.proc.kill()
            raise RuntimeError("the collector did not start")
        self.port = int(line)
        self.control = CollectorControl(self.port)

    def stop(self) -> None:
        """Terminate it."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the app exited before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the app did not start listening")


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run_worker(
    plan: Plan, collector: Collector, env: dict[str, str], scenario: str, sdk: str, rep: int
) -> dict[str, Any]:
    """One worker run; returns its result merged with the collector's counters."""
    worker_scenario = "tight" if scenario == "faults" else scenario
    n = {
        "tight": plan.tight_n,
        "webapp": plan.tight_n,
        "faults": plan.faults_n,
        "stream": plan.stream_n,
        "paced": plan.paced_n,
        "backlog": plan.backlog_n,
    }[scenario]
    collector.control.reset(
        seed=1000 + rep,
        faults=plan.faults if scenario == "faults" else None,
        hold=scenario == "backlog",
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.worker",
            "--sdk",
            sdk,
            "--scenario",
            worker_scenario,
            "--port",
            str(collector.port),
            "--n",
            str(n),
            "--rate",
            str(plan.paced_rate),
            "--yield-every",
            str(plan.stream_yield_every),
            "--seconds",
            str(plan.stream_seconds if scenario == "stream" else 0.0),
            "--warmup",
            str(plan.warmup if scenario in ("stream", "paced") else 0),
            "--idle",
            str(1.0 if scenario == "stream" else 0.0),
            "--out",
            str(out),
        ]
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            return {
                "sdk": sdk,
                "scenario": scenario,
                "rep": rep,
                "error": f"worker failed:\n{tail}",
            }
        result: dict[str, Any] = json.loads(out.read_text())
    time.sleep(0.2)
    stats = collector.control.stats()
    before = result.get("collector_before")
    if before:
        for key in ("messages", "unique", "duplicates", "requests", "accepted_requests"):
            stats[key] -= before[key]
    result.update(scenario=scenario, rep=rep, collector=stats)
    return result


def run_app(
    plan: Plan, collector: Collector, env: dict[str, str], sdk: str, rep: int
) -> dict[str, Any]:
    """One FastAPI run: uvicorn serving the app under load."""
    collector.control.reset(seed=1000 + rep)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        stats_out = Path(tmp) / "app.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.app",
            "--sdk",
            sdk,
            "--port",
            str(port),
            "--collector-port",
            str(collector.port),
            "--stats-out",
            str(stats_out),
        ]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            _wait_listening(port, proc)
            loadgen.run_load(port, plan.fastapi_warmup_seconds, plan.fastapi_connections, env)
            cpu0 = _proc_cpu_s(proc.pid)
            load = loadgen.run_load(port, plan.fastapi_seconds, plan.fastapi_connections, env)
            cpu1 = _proc_cpu_s(proc.pid)
            hwm = _proc_hwm_kb(proc.pid)
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=120)
        except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
            proc.kill()
            proc.communicate()
            return {"sdk": sdk, "scenario": "fastapi", "rep": rep, "error": repr(exc)}
        if not stats_out.exists():
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            return {"sdk": sdk, "scenario": "fastapi", "rep": rep, "error": f"app failed:\n{tail}"}
        app_stats = json.loads(stats_out.read_text())
    time.sleep(0.2)
    return {
        "sdk": sdk,
        "scenario": "fastapi",
        "rep": rep,
        "load": load,
        "rps": load["rps"],
        "app_cpu_s": cpu1 - cpu0,
        "app_maxrss_kb": hwm,
        "app": app_stats,
        "version": app_stats.get("version", ""),
        "error": app_stats.get("error"),
        "collector": collector.control.stats(),
    }


def machine_info() -> dict[str, Any]:
    """The machine and the versions of everything measured."""
    import importlib.metadata as md

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30

    def version(dist: str) -> str:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return "not installed"

    dists = (
        "aioanalytics",
        "segment-analytics-python",
        "posthog",
        "httpx",
        "pydantic",
        "anyio",
        "orjson",
        "requests",
        "fastapi",
        "uvicorn",
        "uvloop",
        "httptools",
        "matplotlib",
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "versions": {d: version(d) for d in dists},
        "wrk": loadgen.wrk_version() or "not installed (asyncio fallback generator)",
        "load_average_at_start": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def parse_args(argv: list[str] | None) -> tuple[Plan, argparse.Namespace]:
    """Parse the command line into a plan."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="one smaller run of each")
    parser.add_argument("--runs", type=int, help="repetitions (default 3, quick 1)")
    parser.add_argument("--sdks", help=f"comma-separated subset of {','.join(SDKS)}")
    parser.add_argument("--scenarios", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument(
        "--all-faults", action="store_true", help="run PostHog under faults too (slow)"
    )
    parser.add_argument("--no-docs", action="store_true", help="leave docs/ untouched")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write JSON")
    parser.add_argument(
        "--no-fail", action="store_true", help="exit 0 even when a target is missed"
    )
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = dict(QUICK) if args.quick else {}
    overrides["quick"] = args.quick
    if args.all_faults:
        overrides["skip_faults"] = ()
    if args.runs:
        overrides["runs"] = args.runs
    if args.sdks:
        sdks = tuple(s.strip() for s in args.sdks.split(",") if s.strip())
        unknown = set(sdks) - set(SDKS)
        if unknown:
            parser.error(f"unknown SDK(s): {', '.join(sorted(unknown))}")
        overrides["sdks"] = sdks
    if args.scenarios:
        scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
        unknown = set(scenarios) - set(SCENARIOS)
        if unknown:
            parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        overrides["scenarios"] = scenarios
    return Plan(**overrides), args


def main(argv: list[str] | None = None) -> int:
    """Run the plan; return the exit status."""
    plan, args = parse_args(argv)
    env = _netguard.clean_environ(dict(os.environ))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    info = machine_info()
    print(
        f"aioanalytics benchmarks on {info['cpu']} ({info['cores']} cores), Python "
        f"{info['python']}; {plan.runs} run(s) each{' (quick)' if plan.quick else ''}"
    )
    if info["load_average_at_start"] > 0.5:
        print(
            f"warning: load average {info['load_average_at_start']:.2f}: other processes are "
            "using the CPU, the figures will be noisy"
        )
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    collector = Collector(env)
    try:
        for rep in range(plan.runs):
            for scenario in plan.scenarios:
                # "none" is the app without analytics (the ceiling of the request rate), and
                # in the paced loop a call that does nothing (the floor of the latency).
                order = ("none", *plan.sdks) if scenario in ("fastapi", "paced") else plan.sdks
                if scenario == "faults":
                    order = tuple(s for s in order if s not in plan.skip_faults)
                shift = rep % len(order)
                for sdk in order[shift:] + order[:shift]:
                    t = time.monotonic()
                    if scenario == "fastapi":
                        result = run_app(plan, collector, env, sdk, rep)
                    else:
                        result = run_worker(plan, collector, env, scenario, sdk, rep)
                    runs.append(result)
                    status = "FAILED" if result.get("error") else "ok"
                    print(
                        f"  run {rep + 1}/{plan.runs} {scenario:<8} {sdk:<13} "
                        f"{time.monotonic() - t:6.1f} s  {status}",
                        flush=True,
                    )
                    if result.get("error"):
                        print(f"    {result['error']}", flush=True)
    finally:
        collector.stop()
    elapsed = time.monotonic() - started

    summary = report.summarize(runs, plan.sdks)
    checks = report.check_targets(summary)
    document = {
        "machine": info,
        "plan": dict(plan.__dict__),
        "elapsed_s": elapsed,
        "summary": summary,
        "targets": checks,
        "runs": runs,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(document, indent=1, default=str) + "\n")
    table = report.render_markdown(document)
    print()
    print(table)
    print(f"\nTotal time {elapsed:.0f} s. Results: {args.results}")
    if not args.no_docs:
        report.draw_chart(document, CHART)
        report.update_doc(DOC, table)
        print(f"Updated {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")

    failed_runs = [r for r in runs if r.get("error")]
    missed = [c for c in checks if c["ok"] is False]
    if failed_runs:
        print(f"{len(failed_runs)} run(s) failed.")
        return 2
    if missed and not args.no_fail:
        print(f"{len(missed)} target(s) missed.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
