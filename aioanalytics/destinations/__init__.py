"""Destinations: where messages go. Segment is the default; others are opt-in plugins."""

from __future__ import annotations

from ._base import Destination, Endpoint, Record
from .segment import Segment, SegmentEndpoint

__all__ = ["Destination", "Endpoint", "Record", "Segment", "SegmentEndpoint"]
