"""Destinations: where messages go. Segment is the default; others are opt-in plugins."""

from __future__ import annotations

from ._base import Destination, Endpoint, Record
from .mixpanel import Mixpanel, MixpanelEndpoint, ServiceAccount
from .segment import Segment, SegmentEndpoint
from .trakio import TrakIo, TrakIoEndpoint

__all__ = [
    "Destination",
    "Endpoint",
    "Mixpanel",
    "MixpanelEndpoint",
    "Record",
    "Segment",
    "SegmentEndpoint",
    "ServiceAccount",
    "TrakIo",
    "TrakIoEndpoint",
]
