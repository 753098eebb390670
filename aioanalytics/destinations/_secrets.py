"""Keeping credentials out of error text.

Two ways a credential could reach an exception, the log or ``on_error``:

* Settings validation. pydantic echoes what it was given (``input_value=...``), and for a
  settings model that may be a token, a secret, or a dict holding one. The settings models
  derive from :class:`CredentialSettings`, whose errors keep the type, location and message of
  each error but never the input.
* Response bodies. A server (or a proxy in front of it) that echoes the request's headers or
  body in an error answer would copy the write key, a Basic or Bearer credential or a token
  into :class:`~aioanalytics.DeliveryError` and the log. :func:`redact_response` replaces every
  credential the request carried, and every secret its endpoint names, before anything reads
  the body.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any, cast
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, PydanticKnownError
from pydantic_core.core_schema import ErrorType

from .._transports.base import Request, Response

__all__ = ["REDACTED", "CredentialSettings", "credentials", "redact", "redact_response"]

REDACTED = "[redacted]"
#: Values shorter than this are not searched for: every real key, token and secret is far
#: longer, and replacing a short word everywhere in a body would garble it.
MIN_SECRET_CHARS = 8
#: The shortest tail of a secret that is redacted at the very end of a body (a body is cut to
#: an excerpt, which may end inside an echoed secret).
MIN_TAIL_CHARS = 4
#: Header names holding a credential contain one of these (``Authorization``, ``X-Token``,
#: ``X-Api-Key``, ``Proxy-Authorization``, ...).
_CREDENTIAL_WORDS = ("auth", "token", "key", "secret", "signature", "cookie")
_HIDDEN_INPUT = "[hidden]"


def credentials(headers: Mapping[str, str]) -> list[str]:
    """The credentials in request ``headers``: each credential header's value, and for
    ``<scheme> <credential>`` the credential, and for Basic its decoded user and password."""
    found: list[str] = []
    for name, value in headers.items():
        lowered = name.lower()
        if not any(word in lowered for word in _CREDENTIAL_WORDS):
            continue
        found.append(value)
        scheme, _, credential = value.strip().partition(" ")
        credential = credential.strip()
        if not credential:
            continue
        found.append(credential)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
            user, _, password = decoded.partition(":")
            found.extend((decoded, user, password))
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (as it is, JSON-escaped or URL-encoded) replaced by
    ``[redacted]``, and a secret's beginning cut off at the end of ``text`` too."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET_CHARS:
            forms.update((secret, secret.replace("/", "\\/"), quote(secret, safe="")))
    for form in sorted(forms, key=len, reverse=True):  # longest first: "Basic abc" before "abc"
        if form in text:
            text = text.replace(form, REDACTED)
        if text[-MIN_TAIL_CHARS:] not in form:
            continue  # (the common case: no beginning of this form ends the text)
        for size in range(len(form) - 1, MIN_TAIL_CHARS - 1, -1):
            if text.endswith(form[:size]):
                text = text[:-size] + REDACTED
                break
    return text


def redact_response(response: Response, request: Request, secrets: Iterable[str] = ()) -> Response:
    """``response`` with the credentials of ``request`` and ``secrets`` redacted from its body."""
    if not response.text:
        return response
    text = redact(response.text, [*credentials(request.headers), *secrets])
    if text == response.text:
        return response
    return Response(response.status_code, response.headers, text)


class CredentialSettings(BaseModel):
    """A settings model holding credentials: its validation errors never show an input.

    ``str(error)`` leaves out ``input_value`` and ``error.errors()`` has ``"[hidden]"`` as
    every ``input``; the type, the location and the message of each error are kept.
    """

    model_config = ConfigDict(hide_input_in_errors=True)

    @model_validator(mode="wrap")
    @classmethod
    def _hide_inputs(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise hide_inputs(exc, cls.__name__) from None


def hide_inputs(exc: ValidationError, title: str) -> ValidationError:
    """``exc`` with every error's input replaced by ``"[hidden]"``."""
    details: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False):
        ctx = error.get("ctx")
        kind: str | PydanticCustomError
        try:
            PydanticKnownError(
                cast(ErrorType, error["type"]), ctx
            )  # a known type, with the context it needs
            kind = error["type"]
        except (KeyError, TypeError):
            kind = PydanticCustomError(error["type"], "{message}", {"message": error["msg"]})
            ctx = None
        detail: InitErrorDetails = {"type": kind, "loc": error["loc"], "input": _HIDDEN_INPUT}
        if ctx is not None:
            detail["ctx"] = ctx
        details.append(detail)
    return ValidationError.from_exception_data(title, details, hide_input=True)
