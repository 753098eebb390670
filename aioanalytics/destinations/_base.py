"""What a destination is: a name, its endpoints, and a pure translation of messages to records.

A destination never sends anything itself. The client batches each endpoint's records with the
endpoint's :class:`~aioanalytics.BatchLimits`, asks the endpoint to build the request for a batch,
sends it, and asks the endpoint what the response means. Adding a destination is one module
with a settings model and these two small classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._config import BatchLimits
from .._retry import Decision, RetryPolicy
from .._transports.base import Request, Response

__all__ = ["Destination", "Endpoint", "Record"]


@dataclass(frozen=True, slots=True)
class Record:
    """One unit of work for one endpoint: ``data`` is its serialized JSON."""

    endpoint: str
    data: bytes


class Endpoint(Protocol):
    """One HTTP endpoint of a destination, with its own batch limits and answer rules.

    The credentials a request carries in its headers are redacted from the response body
    before :meth:`decide` or an error sees it; an endpoint that sends a credential elsewhere
    (in the body, in the URL) may name it in a ``secrets`` tuple of strings, redacted too.
    """

    @property
    def limits(self) -> BatchLimits:
        """When this endpoint's batches close."""
        ...

    @property
    def retry(self) -> RetryPolicy:
        """How this endpoint's failures are retried."""
        ...

    @property
    def envelope_bytes(self) -> int:
        """Bytes a request body adds around its records, for exact size accounting."""
        ...

    def build(self, records: Sequence[bytes], *, sent_at: str) -> Request:
        """The request for one batch: uncompressed body; the client may gzip it.

        An endpoint whose body is its records joined between a head and a tail may also
        define ``frame(*, sent_at) -> (head, separator, tail)``: the client then compresses a
        large batch record by record, a slice at a time, instead of building the whole body
        first.
        """
        ...

    def decide(self, response: Response | None, *, batch_size: int) -> Decision:
        """What the response (``None``: network failure) means for the batch."""
        ...


class Destination(Protocol):
    """A place messages go: Segment (the default), Mixpanel, Trak.io, ..."""

    @property
    def name(self) -> str:
        """The name used in a message's ``integrations`` (case-sensitive), e.g. "Mixpanel"."""
        ...

    @property
    def bypasses_segment(self) -> bool:
        """Whether the Segment copy should carry ``integrations: {name: false}``."""
        ...

    @property
    def endpoints(self) -> Mapping[str, Endpoint]:
        """The destination's endpoints by key (the ``Record.endpoint`` values)."""
        ...

    @property
    def gzip(self) -> bool:
        """Whether request bodies are gzipped."""
        ...

    def translate(self, message: Mapping[str, Any], encoded: bytes) -> list[Record]:
        """Records for one wire message (``encoded`` is its JSON); may be empty."""
        ...
