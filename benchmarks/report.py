"""Summaries, target checks, the Markdown table, the chart and the docs update.

Every figure is the median of the repetitions with their min and max. Ratios against
segment-analytics-python and the bare sender are ratios of medians from the same
invocation.

``python -m benchmarks.report [benchmarks/results.json]`` redraws the chart and rewrites the
table in docs/performance.md from a results file, without running anything.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"

Metric = Callable[[dict[str, Any]], float | None]


def _unique(r: dict[str, Any]) -> int:
    return int(r["collector"]["unique"])


def _loss(r: dict[str, Any]) -> int:
    return int(r["sent"]) - _unique(r)


def _per_event_us(r: dict[str, Any]) -> float | None:
    return r["cpu_s"] / _unique(r) * 1e6 if _unique(r) else None


WORKER_METRICS: dict[str, Metric] = {
    "sent": lambda r: r["sent"],
    "delivered": _unique,
    "loss": _loss,
    "loss_pct": lambda r: 100.0 * _loss(r) / r["sent"] if r["sent"] else None,
    "duplicates": lambda r: r["collector"]["duplicates"],
    "e2e_s": lambda r: r["e2e_s"],
    "cpu_s": lambda r: r["cpu_s"],
    "events_per_s": lambda r: _unique(r) / r["e2e_s"],
    "cpu_us_per_event": _per_event_us,
    "maxrss_mb": lambda r: r["maxrss_kb"] / 1024,
    "queued_maxrss_mb": lambda r: r["maxrss_queued_kb"] / 1024,
    "queued_rss_delta_mb": lambda r: (r["rss_queued_kb"] - r["rss_before_kb"]) / 1024,
    "lat_p50_us": lambda r: r["latency_us"].get("p50"),
    "lat_p99_us": lambda r: r["latency_us"].get("p99"),
    "lat_p999_us": lambda r: r["latency_us"].get("p999"),
    "lat_max_us": lambda r: r["latency_us"].get("max"),
    "lag_p99_ms": lambda r: r["lag_ms"].get("p99"),
    "lag_max_ms": lambda r: r["lag_ms"].get("max"),
    "busy_lag_p99_ms": lambda r: r["lag_busy_ms"].get("p99"),
    "busy_lag_max_ms": lambda r: r["lag_busy_ms"].get("max"),
    "idle_lag_p99_ms": lambda r: r["idle_lag_ms"].get("p99"),
    "idle_lag_max_ms": lambda r: r["idle_lag_ms"].get("max"),
    "requests": lambda r: r["collector"]["requests"],
    "faults": lambda r: sum(r["collector"]["faults"].values()),
}

APP_METRICS: dict[str, Metric] = {
    "rps": lambda r: r["rps"],
    "handled": lambda r: r["app"]["calls"],
    "delivered": _unique,
    "loss": lambda r: r["app"]["calls"] - _unique(r) if r["sdk"] != "none" else 0,
    "app_cpu_us_per_req": lambda r: r["app_cpu_s"] / r["load"]["requests"] * 1e6,
    "app_maxrss_mb": lambda r: r["app_maxrss_kb"] / 1024,
}


def _stat(values: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": values,
    }


def summarize(runs: list[dict[str, Any]], sdks: tuple[str, ...]) -> dict[str, Any]:
    """``summary[scenario][sdk][metric] = {median, min, max, values}`` over good runs."""
    summary: dict[str, Any] = {}
    for r in runs:
        if r.get("error"):
            continue
        metrics = APP_METRICS if r["scenario"] == "fastapi" else WORKER_METRICS
        slot = summary.setdefault(r["scenario"], {}).setdefault(r["sdk"], {})
        for name, fn in metrics.items():
            try:
                value = fn(r)
            except (KeyError, ZeroDivisionError, TypeError):
                value = None
            if value is not None:
                slot.setdefault(name, []).append(float(value))
    # Request rate relative to the app without analytics, per repetition.
    base = {
        r["rep"]: r["rps"]
        for r in runs
        if r.get("scenario") == "fastapi" and r["sdk"] == "none" and not r.get("error")
    }
    for r in runs:
        if r.get("scenario") == "fastapi" and not r.get("error") and r["rep"] in base:
            slot = summary["fastapi"][r["sdk"]]
            slot.setdefault("rps_vs_none", []).append(r["rps"] / base[r["rep"]])
    return {
        scenario: {sdk: {m: _stat(v) for m, v in ms.items()} for sdk, ms in per.items()}
        for scenario, per in summary.items()
    }


def _median(summary: dict[str, Any], scenario: str, sdk: str, metric: str) -> float | None:
    try:
        return float(summary[scenario][sdk][metric]["median"])
    except KeyError:
        return None


def _worst(summary: dict[str, Any], scenario: str, sdk: str, metric: str) -> float | None:
    try:
        return float(summary[scenario][sdk][metric]["max"])
    except KeyError:
        return None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def check_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Evaluate every target; ``ok`` is None when the figures needed were not measured."""
    m = _median
    checks: list[tuple[str, str, float | None, str, Callable[[float], bool], str]] = [
        (
            "throughput",
            "End-to-end events/s vs segment (tight loop, 100k)",
            _ratio(
                m(summary, "tight", "aioanalytics", "events_per_s"),
                m(summary, "tight", "segment", "events_per_s"),
            ),
            ">= 5x",
            lambda v: v >= 5,
            "x",
        ),
        (
            "cpu_vs_segment",
            "CPU per delivered event vs segment",
            _ratio(
                m(summary, "tight", "aioanalytics", "cpu_us_per_event"),
                m(summary, "tight", "segment", "cpu_us_per_event"),
            ),
            "<= 0.25x",
            lambda v: v <= 0.25,
            "x",
        ),
        (
            "p50_vs_segment",
            "track() p50 vs segment's (paced)",
            _ratio(
                m(summary, "paced", "aioanalytics", "lat_p50_us"),
                m(summary, "paced", "segment", "lat_p50_us"),
            ),
            "<= 0.5x",
            lambda v: v <= 0.5,
            "x",
        ),
        (
            "p99_vs_segment",
            "track() p99 vs segment's (paced)",
            _ratio(
                m(summary, "paced", "aioanalytics", "lat_p99_us"),
                m(summary, "paced", "segment", "lat_p99_us"),
            ),
            "<= 0.2x",
            lambda v: v <= 0.2,
            "x",
        ),
        (
            "cpu_vs_bare",
            "CPU per delivered event vs bare baseline",
            _ratio(
                m(summary, "tight", "aioanalytics", "cpu_us_per_event"),
                m(summary, "tight", "bare", "cpu_us_per_event"),
            ),
            "<= 1.1x",
            lambda v: v <= 1.1,
            "x",
        ),
        (
            "cpu_vs_bare_webapp",
            "CPU per delivered event vs bare baseline, web app (a yield per call)",
            _ratio(
                m(summary, "webapp", "aioanalytics", "cpu_us_per_event"),
                m(summary, "webapp", "bare", "cpu_us_per_event"),
            ),
            "<= 1.1x",
            lambda v: v <= 1.1,
            "x",
        ),
        (
            "loss_tight",
            "Events lost, tight loop, worst run",
            _worst(summary, "tight", "aioanalytics", "loss"),
            "0",
            lambda v: v == 0,
            "",
        ),
        (
            "loss_faults",
            "Events lost under the fault mix, worst run",
            _worst(summary, "faults", "aioanalytics", "loss"),
            "0",
            lambda v: v == 0,
            "",
        ),
        (
            "stall_p99",
            "Event-loop stall p99 at full speed, gzip on (ms)",
            m(summary, "stream", "aioanalytics", "lag_p99_ms"),
            "< 1 ms",
            lambda v: v < 1,
            " ms",
        ),
        (
            "stall_max",
            "Event-loop stall max at full speed, gzip on (ms)",
            m(summary, "stream", "aioanalytics", "lag_max_ms"),
            "< 10 ms",
            lambda v: v < 10,
            " ms",
        ),
        (
            "fastapi_vs_segment",
            "FastAPI req/s with track() vs with segment's",
            _ratio(
                m(summary, "fastapi", "aioanalytics", "rps"),
                m(summary, "fastapi", "segment", "rps"),
            ),
            ">= 1.5x",
            lambda v: v >= 1.5,
            "x",
        ),
        (
            "fastapi_vs_bare",
            "FastAPI req/s with track() vs with the bare sender",
            _ratio(
                m(summary, "fastapi", "aioanalytics", "rps"), m(summary, "fastapi", "bare", "rps")
            ),
            ">= 0.9x",
            lambda v: v >= 0.9,
            "x",
        ),
        (
            "rss_backlog",
            "Peak RSS with 10,000 queued vs segment's",
            _ratio(
                m(summary, "backlog", "aioanalytics", "queued_maxrss_mb"),
                m(summary, "backlog", "segment", "queued_maxrss_mb"),
            ),
            "<= 1x",
            lambda v: v <= 1,
            "x",
        ),
    ]
    out = []
    for key, label, value, required, ok, unit in checks:
        out.append(
            {
                "id": key,
                "target": label,
                "measured": value,
                "required": required,
                "unit": unit,
                "ok": None if value is None else bool(ok(value)),
            }
        )
    return out


# -- rendering ----------------------------------------------------------------------------

ROWS: list[tuple[str, str, str, str]] = [
    # (scenario, metric, label, format)
    ("tight", "events_per_s", "Throughput, events/s delivered (tight loop)", "{:,.0f}"),
    ("tight", "e2e_s", "End-to-end time incl. final flush, s", "{:.2f}"),
    ("tight", "cpu_s", "CPU time, s", "{:.2f}"),
    ("tight", "cpu_us_per_event", "CPU per delivered event, µs", "{:.1f}"),
    ("tight", "delivered", "Received / sent (tight loop)", "received"),
    ("tight", "loss_pct", "Lost, % (tight loop)", "{:.1f}"),
    ("tight", "maxrss_mb", "Peak RSS, MB (tight loop)", "{:.1f}"),
    ("tight", "lat_p99_us", "track() p99 in the tight loop, µs (incl. backpressure)", "{:,.1f}"),
    (
        "webapp",
        "cpu_us_per_event",
        "CPU per delivered event, web app (a yield per call), µs",
        "{:.1f}",
    ),
    ("webapp", "events_per_s", "Throughput, events/s (web app)", "{:,.0f}"),
    ("webapp", "delivered", "Received / sent (web app)", "received"),
    ("faults", "delivered", "Received / sent with 5% 500, 5% 503, 2% 429, 2% drops", "received"),
    ("faults", "loss_pct", "Lost under faults, %", "{:.1f}"),
    ("faults", "e2e_s", "End-to-end time under faults, s", "{:.2f}"),
    ("paced", "lat_p50_us", "track() p50, µs (5k events/s paced)", "{:.1f}"),
    ("paced", "lat_p99_us", "track() p99, µs", "{:.1f}"),
    ("paced", "lat_p999_us", "track() p99.9, µs", "{:,.1f}"),
    ("stream", "lag_p99_ms", "Event-loop stall p99, ms (full speed, yielding producer)", "{:.2f}"),
    ("stream", "lag_max_ms", "Event-loop stall max, ms", "{:.2f}"),
    ("stream", "busy_lag_p99_ms", "… of it, the loop's thread on the CPU, p99, ms", "{:.2f}"),
    ("stream", "busy_lag_max_ms", "… of it, the loop's thread on the CPU, max, ms", "{:.2f}"),
    ("stream", "idle_lag_p99_ms", "Ticker lag p99 when idle just before, ms (floor)", "{:.2f}"),
    ("stream", "idle_lag_max_ms", "Ticker lag max when idle just before, ms (floor)", "{:.2f}"),
    ("stream", "events_per_s", "Throughput, events/s (yielding producer)", "{:,.0f}"),
    ("backlog", "queued_maxrss_mb", "Peak RSS with 10,000 queued, MB", "{:.1f}"),
    ("backlog", "queued_rss_delta_mb", "RSS growth for the 10,000 queued, MB", "{:.1f}"),
]


def _cell(summary: dict[str, Any], scenario: str, sdk: str, metric: str, fmt: str) -> str:
    try:
        s = summary[scenario][sdk][metric]
    except KeyError:
        return "–"
    if fmt == "received":
        sent = summary[scenario][sdk]["sent"]["median"]
        return f"{s['median']:,.0f} / {sent:,.0f}"
    med = fmt.format(s["median"])
    if len(s["values"]) > 1 and s["min"] != s["max"]:
        return f"{med} ({fmt.format(s['min'])}–{fmt.format(s['max'])})"
    return med


def headline(doc: dict[str, Any]) -> str:
    """One sentence of ratios against segment-analytics-python, for the README."""
    summary = doc["summary"]
    by_id = {c["id"]: c["measured"] for c in doc["targets"]}
    parts = []
    if by_id.get("throughput") is not None:
        parts.append(f"{by_id['throughput']:.1f}x the end-to-end throughput")
    if by_id.get("cpu_vs_segment") is not None:
        parts.append(f"{by_id['cpu_vs_segment']:.2f}x the CPU per delivered event")
    if by_id.get("p50_vs_segment") is not None and by_id.get("p99_vs_segment") is not None:
        parts.append(
            f"{by_id['p50_vs_segment']:.2f}x / {by_id['p99_vs_segment']:.2f}x the p50 / p99 "
            "latency of a track() call"
        )
    if by_id.get("fastapi_vs_segment") is not None:
        parts.append(f"{by_id['fastapi_vs_segment']:.2f}x the requests/s of a FastAPI app")
    lost = [
        f"{_median(summary, sc, 'segment', 'loss_pct'):.0f}% {label}"
        for sc, label in (("tight", "in a tight loop"), ("faults", "under the fault mix"))
        if _median(summary, sc, "segment", "loss_pct") is not None
    ]
    if not parts:
        return ""
    text = "Against segment-analytics-python (defaults, same run), aioanalytics has " + (
        ", ".join(parts) + "."
    )
    if lost and by_id.get("loss_tight") == 0 and by_id.get("loss_faults") == 0:
        text += (
            f" It delivered all {doc['plan']['tight_n']:,} events of the tight loop, with and "
            "without faults; "
            "segment lost " + " and ".join(lost) + "."
        )
    return text


def render_markdown(doc: dict[str, Any]) -> str:
    """The results section of docs/performance.md (also printed to the terminal)."""
    summary = doc["summary"]
    sdks = list(doc["plan"]["sdks"])
    info = doc["machine"]
    plan = doc["plan"]
    v = info["versions"]
    lines = [
        (
            f"Measured {info['date']} on {info['cpu']}, {info['cores']} cores, "
            f"{info['memory_gb']} GB, {info['os']}; {info['implementation']} {info['python']}. "
            f"aioanalytics {v['aioanalytics']}, segment-analytics-python "
            f"{v['segment-analytics-python']}, posthog {v['posthog']}, httpx {v['httpx']}, "
            f"pydantic {v['pydantic']}, orjson {v['orjson']}, fastapi {v['fastapi']}, "
            f"uvicorn {v['uvicorn']} (uvloop {v['uvloop']}, httptools {v['httptools']}), "
            f"{info['wrk']}. Load average {info.get('load_average_at_start', 0):.2f} at the "
            "start."
        ),
        "",
        *([f"**{headline(doc)}**", ""] if headline(doc) else []),
        f"Median of {plan['runs']} run(s) (min–max in brackets)"
        + (" — **quick mode: smaller runs, not for publication**" if plan["quick"] else "")
        + ". All SDKs with their default settings, against the same local collector, in "
        "the same invocation.",
        "",
        "| Figure | " + " | ".join(sdks) + " |",
        "| --- | " + " | ".join("---:" for _ in sdks) + " |",
    ]
    for scenario, metric, label, fmt in ROWS:
        if scenario not in summary:
            continue
        cells = [_cell(summary, scenario, sdk, metric, fmt) for sdk in sdks]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    if "none" in summary.get("paced", {}):
        lines += [
            "",
            (
                "Latency floor of the machine and harness: the same paced loop timing a call "
                "that only builds the properties dict has p50 "
                f"{_cell(summary, 'paced', 'none', 'lat_p50_us', '{:.1f}')}, p99 "
                f"{_cell(summary, 'paced', 'none', 'lat_p99_us', '{:.1f}')} and p99.9 "
                f"{_cell(summary, 'paced', 'none', 'lat_p999_us', '{:,.1f}')} µs."
            ),
        ]

    if "fastapi" in summary:
        lines += [
            "",
            (
                f"FastAPI app under `wrk -t1 -c{plan['fastapi_connections']}` for "
                f"{plan['fastapi_seconds']:.0f} s (after a "
                f"{plan['fastapi_warmup_seconds']:.0f} s warm-up), uvicorn on 127.0.0.1, "
                "the collector on the same 2 cores:"
            ),
            "",
            (
                "| App | req/s | vs no analytics | events received / handled | "
                "app CPU per request, µs |"
            ),
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for sdk in ("none", *sdks):
            if sdk not in summary["fastapi"]:
                continue
            s = summary["fastapi"][sdk]
            rps = _cell(summary, "fastapi", sdk, "rps", "{:,.0f}")
            rel = _cell(summary, "fastapi", sdk, "rps_vs_none", "{:.2f}")
            recv = (
                f"{s['delivered']['median']:,.0f} / {s['handled']['median']:,.0f}"
                if sdk != "none"
                else "–"
            )
            cpu = _cell(summary, "fastapi", sdk, "app_cpu_us_per_req", "{:.0f}")
            name = "no analytics" if sdk == "none" else sdk
            lines.append(f"| {name} | {rps} | {rel} | {recv} | {cpu} |")

    lines += [
        "",
        "| Target (aioanalytics) | Measured | Required | |",
        "| --- | ---: | ---: | --- |",
    ]
    for c in doc["targets"]:
        if c["measured"] is None:
            measured, status = "not measured", "–"
        else:
            fmt = "{:,.0f}" if c["unit"] == "" else "{:.2f}"
            measured = fmt.format(c["measured"]) + c["unit"]
            status = "met" if c["ok"] else "**missed**"
        lines.append(f"| {c['target']} | {measured} | {c['required']} | {status} |")
    return "\n".join(lines)


def update_doc(path: Path, table: str) -> None:
    """Replace the text between the markers of ``path`` with ``table``."""
    block = f"{START}\n{table}\n{END}"
    if path.exists():
        text = path.read_text()
        if START in text and END in text:
            head, rest = text.split(START, 1)
            _, tail = rest.split(END, 1)
            path.write_text(head + block + tail)
            return
        path.write_text(text.rstrip() + "\n\n## Results\n\n" + block + "\n")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Performance\n\n## Results\n\n" + block + "\n")


COLORS = {
    "aioanalytics": "#2b7bba",
    "segment": "#52b788",
    "posthog": "#f4a261",
    "bare": "#8d99ae",
    "none": "#adb5bd",
}


def draw_chart(doc: dict[str, Any], path: Path) -> None:
    """Draw the headline figures as bars (medians) with min–max whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = doc["summary"]
    sdks = list(doc["plan"]["sdks"])
    # (title, [(scenario, metric, series label)], include the no-analytics app)
    panels: list[tuple[str, list[tuple[str, str, str]], bool]] = [
        (
            "Delivered events/s, tight loop (higher is better)",
            [("tight", "events_per_s", "")],
            False,
        ),
        (
            "CPU µs per delivered event (lower is better)",
            [("tight", "cpu_us_per_event", "")],
            False,
        ),
        (
            "track() latency, µs, 5k events/s (lower is better)",
            [("paced", "lat_p50_us", "p50"), ("paced", "lat_p99_us", "p99")],
            False,
        ),
        (
            "% of 100k events lost (lower is better)",
            [("tight", "loss_pct", "no faults"), ("faults", "loss_pct", "14% faults")],
            False,
        ),
        (
            "Event-loop stall, ms (lower is better)",
            [("stream", "lag_p99_ms", "p99"), ("stream", "lag_max_ms", "max")],
            False,
        ),
        ("FastAPI app, requests/s (higher is better)", [("fastapi", "rps", "")], True),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for ax, (title, series, with_none) in zip(axes.flat, panels, strict=True):
        names = ["none", *sdks] if with_none else sdks
        width = 0.8 / len(series)
        for k, (scenario, metric, label) in enumerate(series):
            stats = [summary.get(scenario, {}).get(n, {}).get(metric) for n in names]
            xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(names))]
            meds = [st["median"] if st else 0.0 for st in stats]
            lo = [st["median"] - st["min"] if st else 0.0 for st in stats]
            hi = [st["max"] - st["median"] if st else 0.0 for st in stats]
            colors = [COLORS.get(n, "#999999") for n in names]
            ax.bar(
                xs,
                meds,
                width=width * 0.95,
                yerr=[lo, hi],
                capsize=3,
                color=colors,
                alpha=1.0 if k == 0 else 0.55,
                label=label or None,
            )
            for x, st in zip(xs, stats, strict=True):
                if st is None:
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7)
                elif st["max"] == 0:
                    ax.text(x, 0, "0", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(["no analytics" if n == "none" else n for n in names], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8, title="solid / light:", title_fontsize=7)
    info = doc["machine"]
    fig.suptitle(
        f"aioanalytics vs segment-analytics-python, posthog (AsyncPosthog) and a bare httpx "
        f"sender: median and min–max of {doc['plan']['runs']} runs, {info['cores']} cores, "
        f"Python {info['python']}",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Re-render docs/performance.md and docs/performance.png from a results file."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parent.parent
    source = Path(args[0]) if args else root / "benchmarks" / "results.json"
    doc = json.loads(source.read_text())
    doc["targets"] = check_targets(doc["summary"])
    table = render_markdown(doc)
    print(table)
    draw_chart(doc, root / "docs" / "performance.png")
    update_doc(root / "docs" / "performance.md", table)


if __name__ == "__main__":
    main()
