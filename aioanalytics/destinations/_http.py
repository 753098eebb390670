"""What destination endpoints share about HTTP: base URLs and authentication headers.

A destination's settings name a host (``api.mixpanel.com``) or a full URL (``https://...``,
or ``http://127.0.0.1:8080`` for a local emulator). Plain ``http://`` is refused for any host
but a loopback one, because every request carries a token or a secret.
"""

from __future__ import annotations

import base64
import ipaddress
from urllib.parse import urlsplit

from .._exceptions import ConfigError
from .._version import __version__

__all__ = ["USER_AGENT", "base_url", "basic_auth", "check_url", "is_loopback", "json_headers"]

USER_AGENT = f"aioanalytics/{__version__}"

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address) is this machine's loopback."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(host: str) -> str:
    """The base URL for ``host``: ``https://`` is added to a bare host name.

    >>> base_url("api-eu.mixpanel.com")
    'https://api-eu.mixpanel.com'
    >>> base_url("http://127.0.0.1:8080/")
    'http://127.0.0.1:8080'

    Raises:
        ConfigError: (a ``ValueError``) not an http(s) URL, or plain ``http://`` to a host
            that is not loopback.
    """
    return check_url(host if "://" in host else f"https://{host}")


def check_url(url: str, *, allow_insecure_http: bool | None = None, name: str = "") -> str:
    """``url`` without a trailing ``/``, once it is an http(s) URL fit for credentials: plain
    ``http://`` only to loopback, unless ``allow_insecure_http``.

    ``name``: the argument ``url`` came from, which every error then starts with (``host must
    be ...``, ``host 'http://...': plain http:// ...``: the CLI says its flag instead).
    ``allow_insecure_http``: ``None`` when the caller has no such argument, which the error
    then does not offer.

    >>> check_url("http://analytics.example.com", allow_insecure_http=True)
    'http://analytics.example.com'

    Raises:
        ConfigError: (a ``ValueError``) it is not, saying why.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        what = f"{name} must be" if name else "expected"
        raise ConfigError(f"{what} an http(s) URL, got {url!r}")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        refused = "plain http:// is only allowed to loopback hosts"
        if name:  # the option first, then the reason
            refused = f"{name} {url!r}: {refused}"
        if allow_insecure_http is None:
            raise ConfigError(refused if name else f"{refused}, got {url!r}")
        raise ConfigError(
            f"{refused}; pass allow_insecure_http=True to send unencrypted traffic (and the "
            f"credentials) {'there' if name else f'to {url!r}'}"
        )
    return url.rstrip("/")


def basic_auth(username: str, password: str = "") -> str:
    """An ``Authorization`` header value for HTTP Basic authentication."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def json_headers(**extra: str) -> dict[str, str]:
    """Headers for a JSON request body, plus ``extra`` (``X_Token="..."`` is ``X-Token``)."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    headers.update({name.replace("_", "-"): value for name, value in extra.items()})
    return headers
