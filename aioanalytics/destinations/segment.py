"""The Segment HTTP API destination: every message to ``{host}/v1/batch``."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._config import MAX_BATCH_BYTES, MAX_BATCH_ITEMS, BatchLimits
from .._exceptions import ConfigError
from .._retry import Decision, RetryPolicy
from .._transports.base import Request, Response
from ._base import Endpoint, Record
from ._http import USER_AGENT, check_url

__all__ = ["Segment", "SegmentEndpoint"]

DEFAULT_HOST = "https://api.segment.io"
_PREFIX = b'{"batch":['
_SENT_AT = b'],"sentAt":"'
_SUFFIX = b'"}'
#: ``sentAt`` is always 24 bytes: ``2024-03-15T11:59:30.123Z``.
ENVELOPE_BYTES = len(_PREFIX) + len(_SENT_AT) + 24 + len(_SUFFIX)


@dataclass(frozen=True, slots=True, repr=False)
class SegmentEndpoint:
    """``POST {host}/v1/batch`` with basic auth (the write key as user, empty password)."""

    url: str
    write_key: str
    limits: BatchLimits
    retry: RetryPolicy
    envelope_bytes: int = ENVELOPE_BYTES
    _headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        token = base64.b64encode(f"{self.write_key}:".encode()).decode("ascii")
        headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        object.__setattr__(self, "_headers", headers)

    def __repr__(self) -> str:
        return f"SegmentEndpoint(url={self.url!r})"

    def build(self, records: Sequence[bytes], *, sent_at: str) -> Request:
        """The ``/v1/batch`` request: the records joined inside ``{"batch": [...]}``."""
        head, separator, tail = self.frame(sent_at=sent_at)
        return Request("POST", self.url, self._headers, head + separator.join(records) + tail)

    def frame(self, *, sent_at: str) -> tuple[bytes, bytes, bytes]:
        """What goes before, between and after the records in a body."""
        return _PREFIX, b",", b"".join((_SENT_AT, sent_at.encode(), _SUFFIX))

    def decide(self, response: Response | None, *, batch_size: int) -> Decision:
        """Segment's answers mean what :class:`RetryPolicy` says."""
        return self.retry.decide(
            None if response is None else response.status_code, batch_size=batch_size
        )


class Segment:
    """The default destination: Segment, or any collector speaking its HTTP API.

    Checks what is Segment's own: ``host`` is an http(s) URL (plain ``http://`` only to
    loopback unless ``allow_insecure_http``), and the limits are within Segment's (at most
    ``MAX_BATCH_ITEMS`` messages and ``MAX_BATCH_BYTES`` bytes per batch).
    """

    name = "Segment"
    bypasses_segment = False

    def __init__(
        self,
        write_key: str,
        *,
        host: str = DEFAULT_HOST,
        limits: BatchLimits,
        retry: RetryPolicy,
        gzip: bool = True,
        allow_insecure_http: bool = False,
    ) -> None:
        if limits.max_bytes > MAX_BATCH_BYTES:
            raise ConfigError(
                f"max_batch_bytes must be between 1 and {MAX_BATCH_BYTES}, got {limits.max_bytes}"
            )
        if limits.max_items > MAX_BATCH_ITEMS:
            raise ConfigError(
                f"flush_at must be between 1 and {MAX_BATCH_ITEMS}, got {limits.max_items}"
            )
        url = check_url(host, allow_insecure_http=allow_insecure_http, name="host")
        self.gzip = gzip
        self.endpoint = SegmentEndpoint(f"{url}/v1/batch", write_key, limits=limits, retry=retry)
        self.endpoints: Mapping[str, Endpoint] = {"batch": self.endpoint}

    def __repr__(self) -> str:
        return f"Segment(url={self.endpoint.url!r})"

    def translate(self, message: Mapping[str, Any], encoded: bytes) -> list[Record]:
        """Segment takes the message as it is: one record, the encoded wire JSON."""
        return [Record("batch", encoded)]
