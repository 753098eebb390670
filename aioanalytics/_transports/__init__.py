"""Transports: the only door to the network."""

from __future__ import annotations

from .base import AsyncTransport, Request, Response
from .http import HTTPTransport
from .memory import MemoryTransport

__all__ = ["AsyncTransport", "HTTPTransport", "MemoryTransport", "Request", "Response"]
