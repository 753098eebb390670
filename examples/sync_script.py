"""The blocking facade in a plain script: threads, delivery futures, and no explicit close.

``aioanalytics.sync.Analytics`` has the async client's calls without ``await``. Each call
returns a ``concurrent.futures.Future``; the script never closes the client, because the
exit-time flush delivers whatever is still queued when the interpreter exits.

    AIOANALYTICS_HOST=http://127.0.0.1:8000 python examples/sync_script.py
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor, wait

from aioanalytics.sync import Analytics

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")

analytics = Analytics(WRITE_KEY, host=HOST)  # nothing starts until the first call
logger = logging.getLogger("sync_script")


def import_user(n: int) -> None:
    """One unit of work, run on a thread pool: the client is safe to share between threads."""
    user_id = f"imported-{n}"
    analytics.identify(user_id=user_id, traits={"source": "csv"})
    analytics.track(user_id=user_id, event="User Imported", properties={"row": n})


def main() -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        wait([pool.submit(import_user, n) for n in range(40)])
    future = analytics.track(user_id="importer", event="Import Finished", properties={"rows": 40})
    result = future.result(timeout=30)  # optional: wait for this one message
    logger.info("import finished, acknowledged as %s", result.destinations)
    analytics.track(user_id="importer", event="Script Exiting")  # delivered at exit


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
