"""The request context: what the request being handled adds to every call made meanwhile.

Theory of operation: a web integration (``aioanalytics.web``) binds a :class:`Bound` object
in the :data:`current` context variable for the length of one request. Every call of the
client (``identify`` ... ``alias``) looks at the variable once; when something is bound it
passes its arguments through :func:`merge` before building the message, so the request's
fields fill ``context`` and the visitor's ids fill ``userId``/``anonymousId``, and whatever
the call gave explicitly wins. With nothing bound the cost is one ``ContextVar.get()``.

Context variables follow the code, not the thread: tasks spawned while handling a request
copy them (``asyncio.create_task``, anyio task groups, Starlette background tasks), as do
``asyncio.to_thread`` and asgiref's ``sync_to_async``, and the sync facade's calls carry
them to its event loop thread, so none of those lose the context, and concurrent requests
never see each other's.

This module decides how a request's fields and the call's arguments combine; it never reads
a request (that is ``aioanalytics.web``'s job) and imports nothing beyond the standard
library.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Protocol

__all__ = ["Bound", "RequestContext", "current", "merge"]


class RequestContext:
    """One request's contribution to a message, resolved.

    ``context`` holds wire-form fields (``ip``, ``userAgent``, ``page``, ``locale``,
    ``requestId``); ``user_id`` and ``anonymous_id`` are the visitor's ids (from the
    analytics.js cookies), used where a call gives none.
    """

    __slots__ = ("anonymous_id", "context", "user_id")

    def __init__(
        self,
        context: Mapping[str, Any],
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
    ) -> None:
        self.context = dict(context)
        self.user_id = user_id
        self.anonymous_id = anonymous_id

    def __repr__(self) -> str:
        return (
            f"RequestContext({self.context!r}, user_id={self.user_id!r}, "
            f"anonymous_id={self.anonymous_id!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestContext):
            return NotImplemented
        return (self.context, self.user_id, self.anonymous_id) == (
            other.context,
            other.user_id,
            other.anonymous_id,
        )

    __hash__ = None  # type: ignore[assignment]

    def resolve(self) -> RequestContext:
        """Itself: a resolved context is its own :class:`Bound`."""
        return self


class Bound(Protocol):
    """What :data:`current` holds: something that yields the request's context when a call
    first needs it (the web integrations read the request's headers only then)."""

    def resolve(self) -> RequestContext:
        """The request's context (read once, then the same object every time)."""
        ...


#: The request context bound for the code running now, if any.
current: ContextVar[Bound | None] = ContextVar("aioanalytics_request_context", default=None)

_ALIASES = {"user_agent": "userAgent"}


def merge(
    bound: Bound,
    user_id: str | None,
    anonymous_id: str | None,
    context: Mapping[str, Any] | None,
) -> tuple[str | None, str | None, Mapping[str, Any] | None]:
    """A call's ``(user_id, anonymous_id, context)`` with the request's filled in.

    Explicit arguments win: a ``context`` key the call gives (even as ``None``, which leaves
    the field out) replaces the request's, except that a ``page`` object given as a dict is
    laid over the request's page key by key. ``user_id`` and ``anonymous_id`` default to the
    visitor's, but only for calls about the visitor: a call naming a ``user_id`` other than
    the visitor's signed-in id concerns someone else (an admin acting on an account, say)
    and gets neither cookie id, so two people's identities are never joined by accident.
    """
    request = bound.resolve()
    visitor = request.user_id
    if user_id is None or user_id == visitor or visitor is None:
        if user_id is None:
            user_id = visitor
        if anonymous_id is None:
            anonymous_id = request.anonymous_id
    fields = request.context
    if not fields:
        return user_id, anonymous_id, context
    if context is None:
        return user_id, anonymous_id, fields
    merged = dict(fields)
    for key, value in context.items():
        key = _ALIASES.get(key, key)
        page = merged.get(key) if key == "page" else None
        if isinstance(page, dict) and isinstance(value, Mapping):
            merged[key] = {**page, **value}
        else:
            merged[key] = value
    return user_id, anonymous_id, merged
