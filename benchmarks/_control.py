"""A tiny blocking client for the collector's control endpoints (``/__bench/...``).

It uses ``http.client`` directly, so no proxy setting can ever route it off the machine.
"""

from __future__ import annotations

import http.client
import json
from typing import Any


class CollectorControl:
    """Reset, release and read the counters of a collector on 127.0.0.1."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """The base URL SDKs are pointed at."""
        return f"http://{self.host}:{self.port}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"collector answered {response.status} to {path}")
            return json.loads(payload) if payload else None
        finally:
            conn.close()

    def reset(
        self, *, seed: int = 1, faults: dict[str, float] | None = None, hold: bool = False
    ) -> None:
        """Clear the counters and set the fault mix and hold mode."""
        self._call("POST", "/__bench/reset", {"seed": seed, "faults": faults or {}, "hold": hold})

    def release(self) -> None:
        """Answer every held request and stop holding."""
        self._call("POST", "/__bench/release", {})

    def stats(self) -> dict[str, Any]:
        """The collector's counters."""
        result: dict[str, Any] = self._call("GET", "/__bench/stats")
        return result
