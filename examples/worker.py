"""A plain worker: jobs handled by forked processes and by threads, with the sync facade.

The client is created at import time, as a Celery app or a pre-forking server would create
it. Nothing starts until the first call, and each process starts its own event loop thread
on its first call, so forked workers are safe. A ``multiprocessing`` child ends with
``os._exit()``, which skips the exit-time flush: it calls ``flush()`` before it returns.

    AIOANALYTICS_HOST=http://127.0.0.1:8000 python examples/worker.py
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from typing import Any

from aioanalytics.sync import Analytics

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")

analytics = Analytics(WRITE_KEY, host=HOST)

Job = dict[str, str]


def handle(job: Job) -> None:
    """Do the work, then record it."""
    analytics.track(
        user_id=job["user_id"],
        event="Report Generated",
        properties={"report": job["report"], "worker": f"{os.getpid()}"},
    )


def process_worker(jobs: list[Job]) -> None:
    """A worker process: its first call starts its own engine."""
    for job in jobs:
        handle(job)
    analytics.flush()  # the process ends with os._exit(): deliver before returning


def thread_worker(jobs: queue.Queue[Job | None]) -> None:
    """A worker thread: all threads share the process's client."""
    while (job := jobs.get()) is not None:
        handle(job)


def main() -> None:
    if "fork" in multiprocessing.get_all_start_methods():
        context: Any = multiprocessing.get_context("fork")
    else:  # Windows: each child imports this module and creates its own client
        context = multiprocessing.get_context("spawn")
    batches = [
        [{"user_id": f"user-{p}-{j}", "report": "monthly"} for j in range(3)] for p in range(2)
    ]
    processes = [context.Process(target=process_worker, args=(batch,)) for batch in batches]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a worker process failed with exit code {process.exitcode}")

    jobs: queue.Queue[Job | None] = queue.Queue()
    threads = [threading.Thread(target=thread_worker, args=(jobs,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for n in range(12):
        jobs.put({"user_id": f"user-t-{n}", "report": "weekly"})
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    analytics.track(user_id="scheduler", event="Worker Finished", properties={"jobs": 18})
    # No close(): the exit-time flush delivers the rest.


if __name__ == "__main__":
    main()
