"""Refuse any outgoing connection that is not to the loopback interface.

Installed first thing in every benchmark subprocess, so that a misconfigured SDK (a
default host, a telemetry call) fails loudly instead of sending traffic elsewhere.
"""

from __future__ import annotations

import os
import socket
from typing import Any

_LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_PROXY_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def clean_environ(env: dict[str, str]) -> dict[str, str]:
    """Return a copy of ``env`` without proxy settings and with loopback exempted."""
    cleaned = {k: v for k, v in env.items() if k not in _PROXY_VARS}
    cleaned["NO_PROXY"] = cleaned["no_proxy"] = "127.0.0.1,localhost,::1"
    return cleaned


def _check(address: Any) -> None:
    if isinstance(address, tuple) and address and address[0] not in _LOCAL_HOSTS:
        raise PermissionError(f"benchmark refused a connection to {address[0]!r}")


def install() -> None:
    """Patch ``socket.socket`` so that connects outside loopback raise ``PermissionError``."""
    for var in _PROXY_VARS:
        os.environ.pop(var, None)
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        _check(address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(address)
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
