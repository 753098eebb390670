"""Benchmarks for aioanalytics against segment-analytics-python, PostHog and a bare sender.

Run them with ``nox -s bench`` or ``python -m benchmarks.run``; see ``docs/performance.md``.
Every SDK runs in its own subprocess against a local collector on 127.0.0.1; nothing here
ever talks to another host.
"""
