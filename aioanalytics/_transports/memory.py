"""A transport that records requests and answers from a script: for tests, yours and ours."""

from __future__ import annotations

import gzip
import json
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from .._exceptions import TransportError
from .base import Request, Response

__all__ = ["MemoryTransport"]

Answer = Response | TransportError | int


class MemoryTransport:
    """Records every request; answers 200 unless told otherwise.

    ``answers`` is a script consumed one per request (a status code, a :class:`Response`, or a
    :class:`TransportError` to raise); ``handler`` decides per request when given. Decoded
    request bodies are in :attr:`bodies`, the messages they carried in :attr:`messages`.

    >>> transport = MemoryTransport(answers=[503, 200])
    """

    def __init__(
        self,
        answers: Iterable[Answer] = (),
        *,
        handler: Callable[[Request], Answer] | None = None,
    ) -> None:
        self.answers: deque[Answer] = deque(answers)
        self.handler = handler
        self.requests: list[Request] = []
        self.closed = False

    @staticmethod
    def decode(request: Request) -> Any:
        """The JSON body of ``request``, decompressed if it was gzipped."""
        body = request.content
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return json.loads(body)

    @property
    def bodies(self) -> list[Any]:
        """Every request body, decoded."""
        return [self.decode(request) for request in self.requests]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message of every accepted-or-not ``/v1/batch`` request, in order."""
        return [m for body in self.bodies if isinstance(body, dict) for m in body.get("batch", [])]

    async def send(self, request: Request) -> Response:
        """Record the request and answer it from the handler, the script, or with 200."""
        self.requests.append(request)
        if self.handler is not None:
            answer = self.handler(request)
        elif self.answers:
            answer = self.answers.popleft()
        else:
            answer = 200
        if isinstance(answer, TransportError):
            raise answer
        if isinstance(answer, int):
            return Response(answer)
        return answer

    async def aclose(self) -> None:
        """Mark the transport closed (see :attr:`closed`)."""
        self.closed = True
